//! The CapabilityStatement served at `GET /fhir/r4/metadata`, and the OperationOutcome a FHIR client gets
//! when a request fails: what this server does with FHIR, said in FHIR.

use crate::resources::{
    CapabilityInteraction, CapabilityOperation, CapabilityResource, CapabilityRest, CapabilitySecurity,
    CapabilitySoftware, CapabilityStatement, OperationOutcome, OperationOutcomeIssue,
};

/// The FHIR version every resource here follows.
pub const FHIR_VERSION: &str = "4.0.1";

/// The media type of FHIR JSON.
pub const FHIR_JSON: &str = "application/fhir+json";

/// The CapabilityStatement of a ketacare server of `software_version`, published on `date` (a FHIR
/// dateTime: the build's, so the statement does not change between requests).
pub fn capability_statement(software_version: &str, date: &str) -> CapabilityStatement {
    let read_only = |resource_type: &str| CapabilityResource {
        resource_type: resource_type.to_owned(),
        interaction: Vec::new(),
        operation: Vec::new(),
    };
    CapabilityStatement {
        id: "ketacare".to_owned(),
        url: "https://ketacare.org/fhir/CapabilityStatement/ketacare".to_owned(),
        version: software_version.to_owned(),
        name: "KetacareServer".to_owned(),
        title: "ketacare FHIR R4 server".to_owned(),
        status: "active".to_owned(),
        experimental: false,
        date: date.to_owned(),
        publisher: "ketacare".to_owned(),
        description: "Per-patient export of a ketacare record as a FHIR R4 searchset Bundle \
                      (Patient/{id}/$everything), and import of a transaction, collection or searchset Bundle \
                      into patients' charts (POST to the base), and the asynchronous Bulk Data export of every \
                      patient's record as NDJSON ($export, Patient/$export)."
            .to_owned(),
        kind: "instance".to_owned(),
        software: CapabilitySoftware { name: "ketacare".to_owned(), version: software_version.to_owned() },
        fhir_version: FHIR_VERSION.to_owned(),
        format: vec![FHIR_JSON.to_owned(), "json".to_owned()],
        rest: vec![CapabilityRest {
            mode: "server".to_owned(),
            documentation: "See docs/fhir.md for the profile of each resource and ketacare's CodeSystem.".to_owned(),
            security: CapabilitySecurity {
                description: "A ketacare bearer token (Authorization: Bearer kc_...) or session cookie; \
                              admins, prescribers and nurses may export a patient, prescribers and nurses may \
                              import, admins (in full, with the audit log as AuditEvents) and analysts \
                              (de-identified) may export in bulk."
                    .to_owned(),
            },
            resource: vec![
                CapabilityResource {
                    resource_type: "Patient".to_owned(),
                    interaction: Vec::new(),
                    operation: vec![
                        CapabilityOperation {
                            name: "everything".to_owned(),
                            definition: "http://hl7.org/fhir/OperationDefinition/Patient-everything".to_owned(),
                        },
                        CapabilityOperation {
                            name: "export".to_owned(),
                            definition: "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export".to_owned(),
                        },
                    ],
                },
                read_only("Condition"),
                read_only("MedicationStatement"),
                read_only("MedicationRequest"),
                read_only("MedicationDispense"),
                read_only("Observation"),
                read_only("MedicationAdministration"),
                read_only("Consent"),
                read_only("AuditEvent"),
            ],
            interaction: vec![CapabilityInteraction { code: "transaction".to_owned() }],
            operation: vec![CapabilityOperation {
                name: "export".to_owned(),
                definition: "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export".to_owned(),
            }],
        }],
    }
}

/// One issue as an OperationOutcome: `severity` (`error`), `code` from FHIR's issue-type value set.
pub fn operation_outcome(severity: &str, code: &str, diagnostics: &str, expression: Option<&str>) -> OperationOutcome {
    OperationOutcome {
        issue: vec![OperationOutcomeIssue {
            severity: severity.to_owned(),
            code: code.to_owned(),
            diagnostics: Some(diagnostics.to_owned()).filter(|text| !text.is_empty()),
            expression: expression.map(str::to_owned).into_iter().collect(),
        }],
    }
}
