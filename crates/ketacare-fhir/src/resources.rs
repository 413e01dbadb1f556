//! The FHIR R4 (4.0.1) resources ketacare writes, as typed serde structs: a subset of each resource's
//! elements (only those we fill), written in FHIR's JSON names, with optional elements left out when
//! empty. Element cardinalities and the profile of each resource are documented in docs/fhir.md.

use serde::Serialize;
use serde_json::Number;

fn is_false(value: &bool) -> bool {
    !*value
}

/// `Coding`: a code from a code system.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Coding {
    pub system: String,
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

/// `CodeableConcept`: one concept in one or more code systems, and the text a person reads.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CodeableConcept {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub coding: Vec<Coding>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// `Reference`: a relative reference (`Patient/abc`) to another resource of the same server.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reference {
    pub reference: String,
}

/// `Quantity` with a UCUM unit (`system` is UCUM whenever `code` is given).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quantity {
    pub value: Number,
    pub unit: String,
    pub system: String,
    pub code: String,
}

/// `Period`: a start and an end, each a FHIR dateTime.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Period {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
}

/// `Identifier`: a business identifier such as the clinic's MRN.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Identifier {
    pub system: String,
    pub value: String,
}

/// `HumanName`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HumanName {
    #[serde(rename = "use")]
    pub name_use: String,
    pub family: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub given: Vec<String>,
}

/// `Extension` with the value types we use.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Extension {
    pub url: String,
    #[serde(flatten)]
    pub value: ExtensionValue,
}

/// The `value[x]` of an [`Extension`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum ExtensionValue {
    #[serde(rename = "valueDecimal")]
    Decimal(Number),
    #[serde(rename = "valueCode")]
    Code(String),
    #[serde(rename = "valueString")]
    String(String),
    #[serde(rename = "valueBoolean")]
    Boolean(bool),
    #[serde(rename = "valueInteger")]
    Integer(i64),
}

/// `Meta`, with the profiles a resource claims.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Meta {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub profile: Vec<String>,
}

/// `Patient`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "resourceType", rename = "Patient", rename_all = "camelCase")]
pub struct Patient {
    pub id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub identifier: Vec<Identifier>,
    pub active: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub name: Vec<HumanName>,
    /// `male`, `female`, `other` or `unknown`: here the sex at birth the clinic records for dosing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gender: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<String>,
}

/// `Condition`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "resourceType", rename = "Condition", rename_all = "camelCase")]
pub struct Condition {
    pub id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<Extension>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clinical_status: Option<CodeableConcept>,
    pub verification_status: CodeableConcept,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub category: Vec<CodeableConcept>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<CodeableConcept>,
    pub code: CodeableConcept,
    pub subject: Reference,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub onset_date_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded_date: Option<String>,
}

/// `MedicationStatement` (an antidepressant trial, or a concomitant medicine by class).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "resourceType", rename = "MedicationStatement", rename_all = "camelCase")]
pub struct MedicationStatement {
    pub id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<Extension>,
    pub status: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub status_reason: Vec<CodeableConcept>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<CodeableConcept>,
    pub medication_codeable_concept: CodeableConcept,
    pub subject: Reference,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective_date_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_asserted: Option<String>,
    /// A trial's depressive episode (`Condition/{episode_id}`): why the drug was taken.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reason_reference: Vec<Reference>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dosage: Vec<Dosage>,
}

/// `Dosage`: a daily dose.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Dosage {
    pub text: String,
    pub timing: Timing,
    pub dose_and_rate: Vec<DoseAndRate>,
}

/// `Timing` with its `repeat`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timing {
    pub repeat: TimingRepeat,
}

/// `Timing.repeat`: `frequency` times per `period` `periodUnit`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TimingRepeat {
    pub frequency: u32,
    pub period: Number,
    pub period_unit: String,
}

/// `Dosage.doseAndRate`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DoseAndRate {
    pub dose_quantity: Quantity,
}

/// `Observation` (a scale result, a measurement, a vital sign, the TRD determination).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "resourceType", rename = "Observation", rename_all = "camelCase")]
pub struct Observation {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    /// A session observation's `treatment-session` extension.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<Extension>,
    pub status: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub category: Vec<CodeableConcept>,
    pub code: CodeableConcept,
    pub subject: Reference,
    #[serde(flatten)]
    pub effective: Option<ObservationEffective>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued: Option<String>,
    #[serde(flatten)]
    pub value: Option<ObservationValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_absent_reason: Option<CodeableConcept>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub note: Vec<Annotation>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub derived_from: Vec<Reference>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub component: Vec<ObservationComponent>,
}

/// `Observation.effective[x]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum ObservationEffective {
    #[serde(rename = "effectiveDateTime")]
    DateTime(String),
}

/// `Observation.value[x]` and `Observation.component.value[x]`, the types we write.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum ObservationValue {
    #[serde(rename = "valueQuantity")]
    Quantity(Quantity),
    #[serde(rename = "valueInteger")]
    Integer(i64),
    #[serde(rename = "valueBoolean")]
    Boolean(bool),
    #[serde(rename = "valueString")]
    String(String),
    #[serde(rename = "valueCodeableConcept")]
    CodeableConcept(CodeableConcept),
}

/// `Observation.component`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservationComponent {
    pub code: CodeableConcept,
    #[serde(flatten)]
    pub value: Option<ObservationValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_absent_reason: Option<CodeableConcept>,
}

/// `Annotation` (a note).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Annotation {
    pub text: String,
}

/// `MedicationAdministration`: a dose given in a treatment session.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "resourceType", rename = "MedicationAdministration", rename_all = "camelCase")]
pub struct MedicationAdministration {
    pub id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<Extension>,
    pub status: String,
    pub medication_codeable_concept: CodeableConcept,
    pub subject: Reference,
    #[serde(flatten)]
    pub effective: AdministrationEffective,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dosage: Option<AdministrationDosage>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub note: Vec<Annotation>,
}

/// `MedicationAdministration.effective[x]` (1..1).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum AdministrationEffective {
    #[serde(rename = "effectiveDateTime")]
    DateTime(String),
    #[serde(rename = "effectivePeriod")]
    Period(Period),
}

/// `MedicationAdministration.dosage`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AdministrationDosage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<CodeableConcept>,
    pub dose: Quantity,
}

/// `Encounter`: a treatment session, the visit in which its observations and doses were recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "resourceType", rename = "Encounter", rename_all = "camelCase")]
pub struct Encounter {
    pub id: String,
    /// `in-progress`, `finished` (discharged) or `entered-in-error`.
    pub status: String,
    /// HL7 v3 ActCode `AMB` (ambulatory).
    pub class: Coding,
    #[serde(rename = "type")]
    pub encounter_type: Vec<CodeableConcept>,
    pub subject: Reference,
    pub period: Period,
}

/// `Procedure`: the ketamine or esketamine treatment given in a session's Encounter.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "resourceType", rename = "Procedure", rename_all = "camelCase")]
pub struct Procedure {
    pub id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<Extension>,
    /// `in-progress`, `completed` (discharged) or `entered-in-error`.
    pub status: String,
    pub code: CodeableConcept,
    pub subject: Reference,
    pub encounter: Reference,
    pub performed_period: Period,
}

/// `CarePlan`: a treatment plan (a course of sessions) with its scheduled sessions as activities.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "resourceType", rename = "CarePlan", rename_all = "camelCase")]
pub struct CarePlan {
    pub id: String,
    /// `active`, `revoked` (cancelled) or `entered-in-error`.
    pub status: String,
    /// `plan`.
    pub intent: String,
    pub title: String,
    pub subject: Reference,
    pub period: Period,
    /// When the plan was prescribed (a FHIR instant).
    pub created: String,
    pub activity: Vec<CarePlanActivity>,
}

/// `CarePlan.activity`: one scheduled session, and the session's Encounter once it took place.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CarePlanActivity {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub outcome_reference: Vec<Reference>,
    pub detail: CarePlanActivityDetail,
}

/// `CarePlan.activity.detail`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CarePlanActivityDetail {
    pub code: CodeableConcept,
    /// `scheduled`, `completed`, `cancelled` (a missed session says so in `statusReason`).
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<CodeableConcept>,
    /// The planned start (clinic-local with its offset).
    pub scheduled_period: Period,
    pub description: String,
}

/// `MedicationRequest`: a prescriber's signed dose order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "resourceType", rename = "MedicationRequest", rename_all = "camelCase")]
pub struct MedicationRequest {
    pub id: String,
    /// `active`, `stopped` (discontinued) or `entered-in-error`.
    pub status: String,
    /// `order`.
    pub intent: String,
    pub medication_codeable_concept: CodeableConcept,
    pub subject: Reference,
    /// When it was signed (a FHIR instant).
    pub authored_on: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub based_on: Vec<Reference>,
    pub dosage_instruction: Vec<RequestDosage>,
}

/// `MedicationRequest.dosageInstruction` (a `Dosage`): the instruction in words, the route, the dose.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestDosage {
    pub text: String,
    pub route: CodeableConcept,
    pub dose_and_rate: Vec<DoseAndRate>,
}

/// `Consent`: a patient's informed consent to a treatment (scope `treatment`), signed on a versioned
/// consent form, in force over `provision.period` unless withdrawn.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "resourceType", rename = "Consent", rename_all = "camelCase")]
pub struct Consent {
    pub id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<Extension>,
    /// `active`, `inactive` (withdrawn) or `entered-in-error`.
    pub status: String,
    /// `treatment` (consentscope).
    pub scope: CodeableConcept,
    /// LOINC 59284-0 Patient Consent.
    pub category: Vec<CodeableConcept>,
    pub patient: Reference,
    /// The day it was signed (a FHIR dateTime may be a date).
    pub date_time: String,
    /// Who signed: the patient or their legal representative, by name (left out de-identified).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub performer: Vec<DisplayReference>,
    /// The consent form signed: its title and version, and its address in ketacare.
    pub source_attachment: Attachment,
    /// HL7 v3 ActCode `OPTIN`: the patient opts in to the treatment (FHIR R4 ppc-1 asks for a policy rule).
    pub policy_rule: CodeableConcept,
    pub provision: ConsentProvision,
}

/// A reference by display text only (a person who is not a resource here).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DisplayReference {
    pub display: String,
}

/// `Attachment`: a document by title and address.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    pub content_type: String,
    pub url: String,
    pub title: String,
}

/// `Consent.provision`: permit the treatment over the period (signature to validity end or withdrawal).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConsentProvision {
    /// `permit`.
    #[serde(rename = "type")]
    pub provision_type: String,
    pub period: Period,
    /// The treatment consented to (the medication concept).
    pub code: Vec<CodeableConcept>,
}

/// `QuestionnaireResponse`: a questionnaire's answers item by item (PHQ-9, GAD-7), beside the scale's
/// Observation that carries its total.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "resourceType", rename = "QuestionnaireResponse", rename_all = "camelCase")]
pub struct QuestionnaireResponse {
    pub id: String,
    /// The LOINC panel's questionnaire (`http://loinc.org/q/44249-1`).
    pub questionnaire: String,
    /// `completed` or `entered-in-error`.
    pub status: String,
    pub subject: Reference,
    /// The day it was given (a FHIR dateTime may be a date).
    pub authored: String,
    pub item: Vec<QuestionnaireResponseItem>,
}

/// `QuestionnaireResponse.item`: one question by its LOINC code, with its score when answered.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QuestionnaireResponseItem {
    pub link_id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub answer: Vec<QuestionnaireResponseAnswer>,
}

/// `QuestionnaireResponse.item.answer`: the item's score.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QuestionnaireResponseAnswer {
    pub value_integer: i64,
}

/// Any resource ketacare writes into a Bundle.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Resource {
    Patient(Patient),
    Condition(Condition),
    MedicationStatement(MedicationStatement),
    Observation(Box<Observation>),
    MedicationAdministration(MedicationAdministration),
    Encounter(Encounter),
    Procedure(Procedure),
    CarePlan(CarePlan),
    MedicationRequest(MedicationRequest),
    QuestionnaireResponse(QuestionnaireResponse),
    Consent(Consent),
}

impl Resource {
    /// Every resource type the export writes, in the order of `$export`'s files.
    pub const TYPES: [&'static str; 11] = [
        "Patient",
        "Condition",
        "MedicationStatement",
        "Observation",
        "QuestionnaireResponse",
        "CarePlan",
        "MedicationRequest",
        "MedicationAdministration",
        "Encounter",
        "Procedure",
        "Consent",
    ];

    /// The resource's type name (`Observation`).
    pub fn resource_type(&self) -> &'static str {
        match self {
            Resource::Patient(_) => "Patient",
            Resource::Condition(_) => "Condition",
            Resource::MedicationStatement(_) => "MedicationStatement",
            Resource::Observation(_) => "Observation",
            Resource::MedicationAdministration(_) => "MedicationAdministration",
            Resource::Encounter(_) => "Encounter",
            Resource::Procedure(_) => "Procedure",
            Resource::CarePlan(_) => "CarePlan",
            Resource::MedicationRequest(_) => "MedicationRequest",
            Resource::QuestionnaireResponse(_) => "QuestionnaireResponse",
            Resource::Consent(_) => "Consent",
        }
    }

    /// The resource's logical id.
    pub fn id(&self) -> &str {
        match self {
            Resource::Patient(resource) => &resource.id,
            Resource::Condition(resource) => &resource.id,
            Resource::MedicationStatement(resource) => &resource.id,
            Resource::Observation(resource) => &resource.id,
            Resource::MedicationAdministration(resource) => &resource.id,
            Resource::Encounter(resource) => &resource.id,
            Resource::Procedure(resource) => &resource.id,
            Resource::CarePlan(resource) => &resource.id,
            Resource::MedicationRequest(resource) => &resource.id,
            Resource::QuestionnaireResponse(resource) => &resource.id,
            Resource::Consent(resource) => &resource.id,
        }
    }
}

/// `Bundle`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "resourceType", rename = "Bundle", rename_all = "camelCase")]
pub struct Bundle {
    pub id: String,
    /// `searchset` for `$everything`.
    #[serde(rename = "type")]
    pub bundle_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub entry: Vec<BundleEntry>,
}

/// `Bundle.entry`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleEntry {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_url: Option<String>,
    pub resource: Resource,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search: Option<BundleEntrySearch>,
}

/// `Bundle.entry.search`: `match` for the patient, `include` for the rest of the record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BundleEntrySearch {
    pub mode: String,
}

/// `OperationOutcome`: what went wrong, for a FHIR client.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "resourceType", rename = "OperationOutcome")]
pub struct OperationOutcome {
    pub issue: Vec<OperationOutcomeIssue>,
}

/// `OperationOutcome.issue`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OperationOutcomeIssue {
    /// `fatal`, `error`, `warning` or `information`.
    pub severity: String,
    /// From the FHIR `issue-type` value set: `not-found`, `forbidden`, `login`, `invalid`, `exception`, …
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diagnostics: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expression: Vec<String>,
}

/// `CapabilityStatement`: what this server does with FHIR.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "resourceType", rename = "CapabilityStatement", rename_all = "camelCase")]
pub struct CapabilityStatement {
    pub id: String,
    pub url: String,
    pub version: String,
    pub name: String,
    pub title: String,
    pub status: String,
    #[serde(skip_serializing_if = "is_false")]
    pub experimental: bool,
    pub date: String,
    pub publisher: String,
    pub description: String,
    pub kind: String,
    pub software: CapabilitySoftware,
    pub fhir_version: String,
    pub format: Vec<String>,
    pub rest: Vec<CapabilityRest>,
}

/// `CapabilityStatement.software`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CapabilitySoftware {
    pub name: String,
    pub version: String,
}

/// `CapabilityStatement.rest`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CapabilityRest {
    pub mode: String,
    pub documentation: String,
    pub security: CapabilitySecurity,
    pub resource: Vec<CapabilityResource>,
    /// System-wide interactions: `transaction` (the import at `POST /fhir/r4`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub interaction: Vec<CapabilityInteraction>,
    /// System-wide operations: `export` (the Bulk Data `$export`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub operation: Vec<CapabilityOperation>,
}

/// `CapabilityStatement.rest.security`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CapabilitySecurity {
    pub description: String,
}

/// `CapabilityStatement.rest.resource`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CapabilityResource {
    #[serde(rename = "type")]
    pub resource_type: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub interaction: Vec<CapabilityInteraction>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub operation: Vec<CapabilityOperation>,
}

/// `CapabilityStatement.rest.resource.interaction`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CapabilityInteraction {
    pub code: String,
}

/// `CapabilityStatement.rest.resource.operation`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CapabilityOperation {
    pub name: String,
    pub definition: String,
}
