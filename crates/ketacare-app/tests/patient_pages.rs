//! Keyset pagination of the patient list on both backends: following `next_cursor` through 250 patients
//! (many sharing names) shows each exactly once, in name order, also when patients are added between
//! pages; a foreign cursor, or a cursor with an offset, is refused naming the field. An analyst's list is
//! in pseudonym order, so that its order tells nothing about names.

use std::collections::BTreeSet;

use ketacare_app::{Actor, App, AppError, NewAccount, PatientInput, PatientListQuery, PatientView, Role};
use ketacare_core::protocol::Protocol;
use ketacare_store::test_support::each_backend;

fn patient(number: usize) -> PatientInput {
    // Few distinct names, so order within equal names falls to the id.
    const FAMILY: [&str; 7] = ["Okafor", "Lovelace", "Nakamura", "Garcia", "Smith", "O'Neil", "Åberg"];
    const GIVEN: [&str; 5] = ["Ada", "Ben", "Chen", "Dara", "Eli"];
    PatientInput {
        mrn: None,
        given_name: GIVEN[number % GIVEN.len()].to_owned(),
        family_name: FAMILY[number % FAMILY.len()].to_owned(),
        birth_date: "1984-05-02".to_owned(),
        sex_at_birth: if number.is_multiple_of(2) { "female" } else { "male" }.to_owned(),
    }
}

fn names_and_id(view: &PatientView) -> (String, String, String) {
    match view {
        PatientView::Identified(patient) => {
            (patient.family_name.clone(), patient.given_name.clone(), patient.patient_id.clone())
        }
        PatientView::DeIdentified(_) => panic!("a nurse sees names"),
    }
}

#[tokio::test]
async fn following_next_cursor_shows_each_patient_exactly_once() {
    each_backend(|db| async move {
        let app = App::new(db.store, Protocol::shipped());
        let account = NewAccount {
            username: "nurse".to_owned(),
            password: "correct horse battery staple".to_owned(),
            role: Role::Nurse,
            must_change_password: false,
        };
        let user_id = app.create_user(None, &account).await.unwrap();
        let nurse = Actor { user_id, role: Role::Nurse, request_id: "r".to_owned() };
        let mut created = BTreeSet::new();
        for number in 0..250 {
            created.insert(app.create_patient(&nurse, &patient(number), None).await.unwrap().resource_id);
        }

        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let query = PatientListQuery { limit: Some(40), cursor: cursor.clone(), ..PatientListQuery::default() };
            let page = app.list_patients(&nurse, &query).await.unwrap();
            pages += 1;
            seen.extend(page.patients.iter().map(names_and_id));
            if pages == 2 {
                // A patient added mid-way changes nothing for those already listed or still to come.
                let last_of_all = PatientInput { family_name: "Zzyzx".to_owned(), ..patient(1000) };
                app.create_patient(&nurse, &last_of_all, None).await.unwrap();
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        let ids: BTreeSet<String> = seen.iter().map(|(_, _, id)| id.clone()).collect();
        assert_eq!(ids.len(), seen.len(), "no patient twice");
        assert!(created.is_subset(&ids), "every patient present when paging began is shown");
        assert_eq!(seen.len(), 251, "and the one added ahead of the cursor (its name sorts last)");
        // Collation may differ from Rust's byte order on PostgreSQL; within one backend, order is consistent:
        // the pages must be the list as one query returns it.
        let whole = app
            .list_patients(&nurse, &PatientListQuery { limit: Some(200), ..PatientListQuery::default() })
            .await
            .unwrap();
        assert_eq!(whole.patients.iter().map(names_and_id).collect::<Vec<_>>(), seen[..200]);
        assert_eq!(pages, 7, "ceil(251 / 40)");

        for (cursor, offset) in
            [("not-a-cursor", None), ("c1zz", None), (whole.next_cursor.as_deref().unwrap(), Some(5))]
        {
            let query = PatientListQuery { cursor: Some(cursor.to_owned()), offset, ..PatientListQuery::default() };
            let refused = app.list_patients(&nurse, &query).await;
            assert!(matches!(&refused, Err(AppError::Invalid { field, .. }) if field == "cursor"), "{refused:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn an_analysts_list_is_in_pseudonym_order_page_after_page() {
    each_backend(|db| async move {
        let app = App::new(db.store, Protocol::shipped());
        let mut actors = Vec::new();
        for role in [Role::Nurse, Role::Analyst] {
            let account = NewAccount {
                username: role.as_str().to_owned(),
                password: "correct horse battery staple".to_owned(),
                role,
                must_change_password: false,
            };
            let user_id = app.create_user(None, &account).await.unwrap();
            actors.push(Actor { user_id, role, request_id: "r".to_owned() });
        }
        let (nurse, analyst) = (&actors[0], &actors[1]);
        for number in 0..30 {
            app.create_patient(nurse, &patient(number), None).await.unwrap();
        }
        let mut pseudonyms = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let query = PatientListQuery { limit: Some(7), cursor: cursor.clone(), ..PatientListQuery::default() };
            let page = app.list_patients(analyst, &query).await.unwrap();
            for view in &page.patients {
                let PatientView::DeIdentified(patient) = view else { panic!("an analyst sees no names") };
                pseudonyms.push(patient.pseudonym.clone());
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        let mut sorted = pseudonyms.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(pseudonyms, sorted, "every patient once, in pseudonym order");
        assert_eq!(pseudonyms.len(), 30);
        // An analyst's search matches a pseudonym only, never the start of a name.
        let one = PatientListQuery { q: Some(pseudonyms[3].clone()), ..PatientListQuery::default() };
        assert_eq!(app.list_patients(analyst, &one).await.unwrap().patients.len(), 1);
    })
    .await;
}
