//! Graceful shutdown through the real binary: `ketacare serve` under a write load gets SIGTERM, finishes
//! the requests in flight, exits 0, and every write it acknowledged is in the database with an intact
//! audit chain. Also: `--bind` and `--database` come from `KETACARE_BIND` and `KETACARE_DATABASE_URL`.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ketacare_store::Store;
use ketacare_store::test_support::each_backend;
use serde_json::Value;

/// One HTTP/1.1 request over a plain socket; the status, head and body, or `None` when the server is gone.
fn http(
    address: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<(u16, String, String)> {
    let mut stream = TcpStream::connect(address).ok()?;
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    Some((head.split(' ').nth(1)?.parse().ok()?, head.to_owned(), body.to_owned()))
}

#[tokio::test]
async fn sigterm_finishes_in_flight_writes_and_exits_zero() {
    each_backend(|db| async move {
        let add = Command::new(env!("CARGO_BIN_EXE_ketacare"))
            .args(["user", "add", "nurse", "--role", "nurse", "--password-stdin", "--database", &db.url])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut add = add;
        add.stdin.take().unwrap().write_all(b"correct horse battery staple\n").unwrap();
        assert!(add.wait().unwrap().success());

        // Settings from the environment, as a service manager would give them.
        let mut server = Command::new(env!("CARGO_BIN_EXE_ketacare"))
            .arg("serve")
            .env("KETACARE_DATABASE_URL", &db.url)
            .env("KETACARE_BIND", "127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(server.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let address =
            line.strip_prefix("ketacare is serving on http://").unwrap().split(' ').next().unwrap().to_owned();

        let login = r#"{"username":"nurse","password":"correct horse battery staple"}"#;
        let (status, head, body) =
            http(&address, "POST", "/api/v1/session", &[("Content-Type", "application/json")], login).unwrap();
        assert_eq!(status, 200, "{body}");
        let cookie =
            head.lines().find_map(|line| line.strip_prefix("set-cookie: ")).unwrap().split(';').next().unwrap().to_owned();
        let session: Value = serde_json::from_str(&body).unwrap();
        let csrf = session["csrf_token"].as_str().unwrap();
        let headers = [("Cookie", cookie.as_str()), ("X-CSRF-Token", csrf), ("Content-Type", "application/json")];
        // A bearer token for the writers: it needs no CSRF token.
        let (status, _, body) = http(&address, "POST", "/api/v1/tokens", &headers, r#"{"label":"load"}"#).unwrap();
        assert_eq!(status, 201, "{body}");
        let token = serde_json::from_str::<Value>(&body).unwrap()["token"].as_str().unwrap().to_owned();
        let stopped = Arc::new(AtomicBool::new(false));

        let mut writers = Vec::new();
        for writer in 0..6 {
            let (address, token, stopped) = (address.clone(), token.clone(), Arc::clone(&stopped));
            writers.push(std::thread::spawn(move || {
                let authorization = format!("Bearer {token}");
                let headers = [("Authorization", authorization.as_str()), ("Content-Type", "application/json")];
                let mut acknowledged = Vec::new();
                for number in 0.. {
                    let body = format!(
                        r#"{{"given_name":"Writer{writer}","family_name":"Load{number}","birth_date":"1984-05-02","sex_at_birth":"female"}}"#
                    );
                    match http(&address, "POST", "/api/v1/patients", &headers, &body) {
                        Some((201, _, body)) => {
                            acknowledged.push(serde_json::from_str::<Value>(&body).unwrap()["patient_id"].as_str().unwrap().to_owned());
                        }
                        // Refused or cut off once the server stops: not acknowledged, so nothing is promised.
                        _ if stopped.load(Ordering::Relaxed) => break,
                        other => panic!("a write failed before shutdown: {other:?}"),
                    }
                }
                acknowledged
            }));
        }
        std::thread::sleep(std::time::Duration::from_millis(700));
        stopped.store(true, Ordering::Relaxed);
        assert!(Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap().success());
        let exit = server.wait().unwrap();
        assert!(exit.success(), "graceful shutdown exits 0: {exit:?}");
        let mut rest = String::new();
        stdout.read_to_string(&mut rest).unwrap();
        assert!(rest.contains("ketacare stopped"), "{rest}");

        let acknowledged: Vec<String> = writers.into_iter().flat_map(|writer| writer.join().unwrap()).collect();
        assert!(!acknowledged.is_empty());
        let store = Store::connect(&db.url).await.unwrap();
        for patient_id in &acknowledged {
            assert!(store.patient(patient_id).await.unwrap().is_some(), "acknowledged patient {patient_id} is missing");
        }
        assert_eq!(store.verify_audit_chain().await.unwrap().first_broken, None);
        store.close().await;
    })
    .await;
}
