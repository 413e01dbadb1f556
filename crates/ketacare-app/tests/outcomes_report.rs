//! The cohort outcomes report (docs/outcomes.md) over a synthetic clinic made through the use cases on
//! both backends: a deterministic generator gives each patient an IV induction plan (sessions given or
//! missed) and MADRS results; the test computes every number again on its own (plain arithmetic, no
//! ketacare rule) and compares. Also: who may read it, bad queries naming their field, one audit event.

use std::sync::Arc;

use jiff::civil::Date;
use jiff::{Timestamp, ToSpan};
use ketacare_app::{Actor, App, AppError, NewAccount, OutcomesQuery, PatientInput, Role};
use ketacare_core::protocol::Protocol;
use ketacare_store::test_support::each_backend;
use serde_json::{Value, json};

/// How many patients the synthetic clinic has.
const PATIENTS: usize = 100;

/// The IV 3×/week template's induction: Monday, Wednesday, Friday for two weeks (days after the start).
const SESSION_DAYS: [i64; 6] = [0, 2, 4, 7, 9, 11];

/// Days after the start a follow-up MADRS may be taken on.
const FOLLOW_UP_DAYS: [i64; 5] = [7, 14, 27, 40, 56];

/// A small deterministic generator (xorshift64*), so the clinic is the same on every run.
struct Generator(u64);

impl Generator {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

/// One synthetic patient's plan, as the test knows it.
struct Synthetic {
    start: Date,
    sessions_given: usize,
    baseline: u8,
    /// (day after start, MADRS total)
    follow_ups: Vec<(i64, u8)>,
}

impl Synthetic {
    fn generate(generator: &mut Generator) -> Synthetic {
        let first_monday: Date = "2026-01-05".parse().unwrap();
        let start = first_monday.checked_add((7 * generator.below(30) as i64).days()).unwrap();
        let sessions_given = 1 + generator.below(6) as usize;
        let baseline = 20 + generator.below(25) as u8;
        let mut follow_ups = Vec::new();
        for day in FOLLOW_UP_DAYS {
            if generator.below(3) != 0 {
                follow_ups.push((day, generator.below(u64::from(baseline) + 5) as u8));
            }
        }
        Synthetic { start, sessions_given, baseline, follow_ups }
    }

    fn day(&self, days: i64) -> Date {
        self.start.checked_add(days.days()).unwrap()
    }

    /// Where the patient stands at the checkpoint `date`, by plain arithmetic: the latest follow-up on or
    /// before it and no more than 7 days before; response = a fall of at least half the baseline, remission
    /// = MADRS 10 or less (the shipped protocol's thresholds).
    fn standing(&self, checkpoint_day: Option<i64>, as_of: Date) -> &'static str {
        let Some(checkpoint_day) = checkpoint_day else { return "not_reached" };
        if self.day(checkpoint_day) > as_of {
            return "not_reached";
        }
        let latest = self.follow_ups.iter().rfind(|(day, _)| *day <= checkpoint_day);
        match latest {
            Some((day, total)) if *day >= checkpoint_day - 7 => {
                if *total <= 10 {
                    "remission"
                } else if 2 * (u32::from(self.baseline) - u32::from((*total).min(self.baseline)))
                    >= u32::from(self.baseline)
                {
                    "response"
                } else {
                    "no_response"
                }
            }
            _ => "not_measured",
        }
    }

    /// Induction ends with its sixth infusion given; a missed one is made up later (KNOWLEDGE §3.4: the
    /// series keeps its number of infusions), so a plan with any missed is still in induction.
    fn end_of_induction_day(&self) -> Option<i64> {
        (self.sessions_given == SESSION_DAYS.len()).then_some(SESSION_DAYS[SESSION_DAYS.len() - 1])
    }

    /// Days from the first session (day 0) to the first follow-up at response.
    fn days_to_response(&self) -> Option<i64> {
        self.follow_ups
            .iter()
            .find(|(_, total)| 2 * (i64::from(self.baseline) - i64::from(*total)) >= i64::from(self.baseline))
            .map(|(day, _)| *day)
    }
}

async fn app_with_users(store: ketacare_store::Store) -> App {
    let now: Timestamp = "2026-11-28T15:00:00Z".parse().unwrap();
    let app = App::new(store, Protocol::shipped()).with_clock(Arc::new(move || now));
    for role in Role::ALL {
        let account = NewAccount {
            username: role.as_str().to_owned(),
            password: format!("correct horse battery {}", role.as_str()),
            role,
            must_change_password: false,
        };
        app.create_user(None, &account).await.unwrap();
    }
    app
}

async fn actor(app: &App, role: Role) -> Actor {
    let password = format!("correct horse battery {}", role.as_str());
    let signed_in = app.login(role.as_str(), &password, "10.0.0.1", "req-login").await.unwrap();
    signed_in.principal.actor(&format!("req-{}", role.as_str()))
}

fn median(values: &mut [i64]) -> Option<String> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let middle = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[middle].to_string()
    } else {
        let twice = values[middle - 1] + values[middle];
        if twice % 2 == 0 { (twice / 2).to_string() } else { format!("{}.5", twice / 2) }
    })
}

fn percent(part: usize, whole: usize) -> Value {
    if whole == 0 {
        return Value::Null;
    }
    // One decimal, half away from zero, in tenths of a percent.
    let tenths = (part * 1000 * 2 + whole) / (2 * whole);
    json!(format!("{}.{}", tenths / 10, tenths % 10))
}

#[tokio::test]
async fn a_synthetic_clinic_gives_the_numbers_computed_independently() {
    each_backend(|db| async move {
        let app = app_with_users(db.store).await;
        let nurse = actor(&app, Role::Nurse).await;
        let prescriber = actor(&app, Role::Prescriber).await;
        let analyst = actor(&app, Role::Analyst).await;
        let as_of: Date = "2026-11-28".parse().unwrap();
        let mut generator = Generator(0x5EED_0FC0_4057);
        let mut clinic = Vec::new();
        for index in 0..PATIENTS {
            let patient = Synthetic::generate(&mut generator);
            let input = PatientInput {
                mrn: Some(format!("MRN-{index}")),
                given_name: format!("Given{index}"),
                family_name: format!("Family{index}"),
                birth_date: "1980-06-15".to_owned(),
                sex_at_birth: if index % 2 == 0 { "female" } else { "male" }.to_owned(),
            };
            let patient_id = app.create_patient(&nurse, &input, None).await.unwrap().resource_id;
            let events: Vec<Value> = SESSION_DAYS
                .iter()
                .enumerate()
                .map(|(number, day)| {
                    let at = format!("{}T09:00", patient.day(*day));
                    if number < patient.sessions_given { json!({ "given": at }) } else { json!({ "missed": at }) }
                })
                .collect();
            let plan = json!({ "template": "induction_3x_week_2w", "time_zone": "UTC",
                "first_session": format!("{}T09:00", patient.start), "events": events });
            app.create_plan(&prescriber, &patient_id, &plan.to_string(), None).await.unwrap();
            let mut results = vec![(-1, patient.baseline)];
            results.extend(patient.follow_ups.iter().copied());
            for (day, total) in results {
                let result =
                    json!({ "scale": "madrs", "administered_on": patient.day(day).to_string(), "total": total });
                app.create_chart_record(&nurse, &patient_id, "scales", &result, None).await.unwrap();
            }
            let plans = app.plans(&prescriber, &patient_id).await.unwrap();
            let adherence = &plans[0].report["measurement_adherence"];
            let due = adherence["done"].as_u64().unwrap() + adherence["missed"].as_u64().unwrap();
            clinic.push((patient, format!("{index}"), due, adherence["done"].as_u64().unwrap()));
        }

        let (from, to): (Date, Date) = ("2026-02-01".parse().unwrap(), "2026-06-30".parse().unwrap());
        let query = OutcomesQuery {
            modality: Some("iv_ketamine".to_owned()),
            from: Some(from.to_string()),
            to: Some(to.to_string()),
            format: None,
        };
        let reports = app.outcomes_report(&analyst, &query).await.unwrap();
        let report = reports.to_json()["reports"][0].clone();

        let cohort: Vec<_> =
            clinic.iter().filter(|(patient, ..)| patient.start >= from && patient.start <= to).collect();
        assert!(cohort.len() > 30, "the period holds a good part of the clinic ({})", cohort.len());
        let mut failures = Vec::new();
        let mut check = |what: String, got: &Value, expected: Value| {
            if *got != expected {
                failures.push(format!("{what}: expected {expected}, got {got}"));
            }
        };
        check("patients".to_owned(), &report["patients"], json!(cohort.len()));
        for (index, code) in ["week_1", "week_4", "week_8", "end_of_induction"].into_iter().enumerate() {
            let day_of = |patient: &Synthetic| -> Option<i64> {
                match code {
                    "week_1" => Some(7),
                    "week_4" => Some(28),
                    "week_8" => Some(56),
                    _ => patient.end_of_induction_day(),
                }
            };
            let standings: Vec<&str> =
                cohort.iter().map(|(patient, ..)| patient.standing(day_of(patient), as_of)).collect();
            let count = |wanted: &[&str]| standings.iter().filter(|one| wanted.contains(one)).count();
            let measured = count(&["remission", "response", "no_response"]);
            let responders = count(&["response"])
                + cohort
                    .iter()
                    .zip(&standings)
                    .filter(|((patient, ..), standing)| {
                        **standing == "remission" && {
                            // A remitter responds too when the fall is at least half.
                            let day = day_of(patient).unwrap();
                            let total = patient.follow_ups.iter().rfind(|(when, _)| *when <= day).unwrap().1;
                            2 * (i64::from(patient.baseline) - i64::from(total)) >= i64::from(patient.baseline)
                        }
                    })
                    .count();
            let remitters = count(&["remission"]);
            assert!(measured > 0 && responders > 0, "{code}: the clinic exercises the checkpoint");
            let summary = &report["checkpoints"][index];
            check(format!("{code} checkpoint"), &summary["checkpoint"], json!(code));
            check(format!("{code} measured"), &summary["measured"], json!(measured));
            check(format!("{code} responders"), &summary["responders"], json!(responders));
            check(format!("{code} remitters"), &summary["remitters"], json!(remitters));
            check(format!("{code} response rate"), &summary["response_rate_pct"], percent(responders, measured));
            check(format!("{code} remission rate"), &summary["remission_rate_pct"], percent(remitters, measured));
        }
        let mut days: Vec<i64> = cohort.iter().filter_map(|(patient, ..)| patient.days_to_response()).collect();
        check("responders ever".to_owned(), &report["time_to_response"]["responders"], json!(days.len()));
        check(
            "median days to response".to_owned(),
            &report["time_to_response"]["median_days"],
            json!(median(&mut days)),
        );
        let given: usize = cohort.iter().map(|(patient, ..)| patient.sessions_given).sum();
        check("sessions given".to_owned(), &report["sessions"]["given"], json!(given));
        let mut per_patient: Vec<i64> = cohort.iter().map(|(patient, ..)| patient.sessions_given as i64).collect();
        check("median sessions".to_owned(), &report["sessions"]["median_per_patient"], json!(median(&mut per_patient)));
        let due: u64 = cohort.iter().map(|(_, _, due, _)| *due).sum();
        let done: u64 = cohort.iter().map(|(_, _, _, done)| *done).sum();
        check("measurements due".to_owned(), &report["measurement_adherence"]["due"], json!(due));
        check("measurements done".to_owned(), &report["measurement_adherence"]["done"], json!(done));
        check("alerts".to_owned(), &report["alerts"][0]["alerts"], json!(0));
        check("no REMS for IV".to_owned(), &report["rems_forms"], Value::Null);
        check("rows".to_owned(), &json!(report["patient_rows"].as_array().unwrap().len()), json!(cohort.len()));
        assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));

        // De-identified: no name, no MRN, no full date of a plan start in the rows.
        let rows = report["patient_rows"].to_string();
        assert!(!rows.contains("Given") && !rows.contains("Family") && !rows.contains("MRN-"), "{rows}");
        assert!(cohort.iter().all(|(patient, ..)| !rows.contains(&patient.start.to_string())));
        // CSV carries the same checkpoint lines.
        let csv = reports.to_csv();
        assert!(csv.starts_with("modality,iv_ketamine\n"), "{csv}");
        assert_eq!(csv.lines().filter(|line| line.starts_with("patient,")).count(), cohort.len());

        // Esketamine: no plan of it, an empty report with its REMS counts.
        let esketamine = OutcomesQuery { modality: Some("esketamine".to_owned()), ..OutcomesQuery::default() };
        let empty = app.outcomes_report(&prescriber, &esketamine).await.unwrap().to_json();
        assert_eq!(empty["reports"][0]["patients"], 0);
        assert_eq!(empty["reports"][0]["rems_forms"]["due"], 0);
    })
    .await;
}

#[tokio::test]
async fn who_may_read_it_bad_queries_and_the_audit() {
    each_backend(|db| async move {
        let app = app_with_users(db.store).await;
        for (role, allowed) in [
            (Role::Admin, true),
            (Role::Prescriber, true),
            (Role::Analyst, true),
            (Role::Nurse, false),
            (Role::Auditor, false),
        ] {
            let caller = actor(&app, role).await;
            let answer = app.outcomes_report(&caller, &OutcomesQuery::default()).await;
            match (allowed, &answer) {
                (true, Ok(reports)) => assert_eq!(reports.reports.len(), 2, "{role:?}: both modalities by default"),
                (false, Err(AppError::Forbidden { .. })) => {}
                _ => panic!("{role:?}: {answer:?}"),
            }
        }
        let analyst = actor(&app, Role::Analyst).await;
        for (query, field) in [
            (OutcomesQuery { modality: Some("lsd".to_owned()), ..OutcomesQuery::default() }, "modality"),
            (OutcomesQuery { from: Some("yesterday".to_owned()), ..OutcomesQuery::default() }, "from"),
            (OutcomesQuery { to: Some("2026-13-01".to_owned()), ..OutcomesQuery::default() }, "to"),
            (
                OutcomesQuery {
                    from: Some("2026-05-01".to_owned()),
                    to: Some("2026-04-01".to_owned()),
                    ..OutcomesQuery::default()
                },
                "from",
            ),
            (OutcomesQuery { format: Some("xml".to_owned()), ..OutcomesQuery::default() }, "format"),
        ] {
            match app.outcomes_report(&analyst, &query).await {
                Err(AppError::Invalid { field: got, .. }) => assert_eq!(got, field, "{query:?}"),
                other => panic!("{query:?}: {other:?}"),
            }
        }
        let auditor = actor(&app, Role::Auditor).await;
        let events = app.audit_events(&auditor, 0, 1000).await.unwrap();
        let outcomes: Vec<(String, String)> = events
            .into_iter()
            .filter(|event| event.action == "report.outcomes")
            .map(|event| (event.actor_role.unwrap_or_default(), event.outcome))
            .collect();
        assert_eq!(outcomes.len(), 10, "one event per request: {outcomes:?}");
        assert_eq!(outcomes.iter().filter(|(_, outcome)| outcome == "success").count(), 3, "{outcomes:?}");
    })
    .await;
}
