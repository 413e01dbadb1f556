//! The database and server commands through the real binary, on SQLite and (when configured)
//! PostgreSQL: `migrate`, `user add`, `audit export`, `audit verify` (which names the first broken link), and `demo`
//! serving real HTTP whose stored decisions equal `ketacare assess`, then shutting down on SIGTERM.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use ketacare_store::test_support::each_backend;
use serde_json::{Value, json};

fn ketacare(arguments: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ketacare"))
        .args(arguments)
        .env_remove("KETACARE_DATABASE_URL")
        .env_remove("KETACARE_BIND")
        .env_remove("KETACARE_AUDIT_KEY")
        .env_remove("KETACARE_AUDIT_KEY_FILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn an_audit_key_from_a_file_keys_the_chain_and_verify_needs_it_for_the_keyed_hashes() {
    each_backend(|db| async move {
        let url = db.url.as_str();
        let directory = tempfile::tempdir().unwrap();
        let key_file = directory.path().join("audit.key");
        std::fs::write(&key_file, "3f1c0a9e5b7d2c4e6f8a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e\n").unwrap();
        let key = key_file.to_str().unwrap();
        let add =
            ketacare(&["user", "add", "carol", "--role", "nurse", "--database", url, "--audit-key-file", key], "");
        assert_eq!(add.status.code(), Some(0), "{}", text(&add.stderr));

        let keyed = ketacare(&["audit", "verify", "--database", url, "--audit-key-file", key], "");
        assert_eq!(keyed.status.code(), Some(0), "{}", text(&keyed.stderr));
        assert!(text(&keyed.stdout).contains("keyed (HMAC-SHA-256) from seq 1"), "{}", text(&keyed.stdout));
        assert!(text(&keyed.stdout).contains("1 rows as the chain says"), "{}", text(&keyed.stdout));

        let unkeyed = ketacare(&["audit", "verify", "--database", url], "");
        assert_eq!(unkeyed.status.code(), Some(0), "{}", text(&unkeyed.stderr));
        assert!(text(&unkeyed.stderr).contains("1 keyed events (HMAC-SHA-256) were checked for their links only"));

        std::fs::write(&key_file, "0000000000000000000000000000000000000000000000000000000000000000").unwrap();
        let wrong = ketacare(&["audit", "verify", "--database", url, "--audit-key-file", key], "");
        assert_eq!(wrong.status.code(), Some(3), "{}", text(&wrong.stdout));
        assert!(text(&wrong.stderr).contains("not the one it was written with"), "{}", text(&wrong.stderr));

        std::fs::write(&key_file, "short").unwrap();
        let short = ketacare(&["audit", "verify", "--database", url, "--audit-key-file", key], "");
        assert_eq!(short.status.code(), Some(1));
        assert!(text(&short.stderr).contains("at least 32 bytes"), "{}", text(&short.stderr));
    })
    .await;
}

#[tokio::test]
async fn migrate_user_add_and_audit_verify() {
    each_backend(|db| async move {
        let url = db.url.as_str();
        let migrate = ketacare(&["migrate", "--database", url], "");
        assert_eq!((migrate.status.code(), text(&migrate.stdout).contains("schema up to date")), (Some(0), true));

        let add = ketacare(
            &["user", "add", "alice", "--role", "nurse", "--password-stdin", "--database", url],
            "a long passphrase\n",
        );
        assert_eq!(add.status.code(), Some(0), "{}", text(&add.stderr));
        let again = ketacare(&["user", "add", "alice", "--role", "nurse", "--database", url], "");
        assert_eq!(again.status.code(), Some(1));
        assert!(text(&again.stderr).contains("username already exists"), "{}", text(&again.stderr));
        let generated = ketacare(&["user", "add", "bob", "--role", "admin", "--database", url], "");
        assert!(text(&generated.stdout).contains("one-time password: "), "{}", text(&generated.stdout));

        // The console gives an account a new one-time password; a name that is no account is an error.
        let reset = ketacare(&["user", "reset-password", "alice", "--database", url], "");
        assert!(text(&reset.stdout).contains("alice: new one-time password"), "{}", text(&reset.stderr));
        let unknown = ketacare(&["user", "reset-password", "nobody", "--database", url], "");
        assert_eq!(unknown.status.code(), Some(1));
        // A database with accounts that is not a demo's is never taken over by `demo`.
        let demo = ketacare(&["demo", "--database", url, "--bind", "127.0.0.1:0"], "");
        assert_eq!(demo.status.code(), Some(1));
        assert!(text(&demo.stderr).contains("not a ketacare demo database"), "{}", text(&demo.stderr));

        let verify = ketacare(&["audit", "verify", "--database", url], "");
        assert_eq!(verify.status.code(), Some(0), "{}", text(&verify.stderr));
        assert!(text(&verify.stdout).starts_with("audit chain intact: 3 events"), "{}", text(&verify.stdout));

        let export = ketacare(&["audit", "export", "--database", url], "");
        let lines: Vec<Value> = text(&export.stdout).lines().map(|line| serde_json::from_str(line).unwrap()).collect();
        assert_eq!(
            lines.iter().map(|event| event["action"].as_str().unwrap()).collect::<Vec<_>>(),
            ["user.create", "user.create", "user.password_reset"]
        );
        assert_eq!(lines[1]["prev_hash"], lines[0]["hash"]);
        let tail = ketacare(&["audit", "export", "--after", "1", "--database", url], "");
        assert_eq!(text(&tail.stdout).lines().count(), 2);

        let head: Vec<String> = text(&verify.stdout).split_whitespace().map(str::to_owned).collect();
        let anchor = format!("{}:{}", head[7], head[9]); // "… head seq N hash H"
        let anchored = ketacare(&["audit", "verify", "--anchor", &anchor, "--database", url], "");
        assert_eq!(anchored.status.code(), Some(0), "{}", text(&anchored.stderr));

        // An anchor taken when the log reached seq 4: the tail has since been cut off.
        let later = format!("4:{}", head[9]);
        let truncated = ketacare(&["audit", "verify", "--anchor", &later, "--database", url], "");
        assert_eq!(truncated.status.code(), Some(3));
        assert!(
            text(&truncated.stderr).contains("broken at seq 4: the anchored row is missing"),
            "{}",
            text(&truncated.stderr)
        );
        let malformed = ketacare(&["audit", "verify", "--anchor", "3", "--database", url], "");
        assert_eq!(malformed.status.code(), Some(1));

        db.expect_tampering();
        db.store.drop_audit_triggers().await.unwrap();
        db.store.execute_raw("UPDATE audit_events SET action = 'user.delete' WHERE seq = 2").await.unwrap();
        let broken = ketacare(&["audit", "verify", "--database", url], "");
        assert_eq!(broken.status.code(), Some(3));
        let stderr = text(&broken.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(
            lines[0],
            "error: audit chain broken at seq 2: hash does not match the row's content: the row was edited \
             (1 events verified before it)"
        );
        // The dropped append-only guard is named too.
        assert!(lines[1..].iter().any(|line| line.contains("audit_events") && line.contains("dropped")), "{stderr}");
    })
    .await;
}

/// One HTTP/1.1 request over a plain socket; returns the status and the body.
fn http(address: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_owned(), body.to_owned())
}

/// A running `ketacare demo`: the child, its output, the one-time password it printed, its address and
/// everything it printed before serving.
struct RunningDemo {
    child: std::process::Child,
    stdout: BufReader<std::process::ChildStdout>,
    password: String,
    address: String,
    printed: String,
}

fn start_demo(database_url: &str) -> RunningDemo {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ketacare"))
        .args(["demo", "--database", database_url, "--bind", "127.0.0.1:0", "--time-zone", "America/New_York"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let (mut password, mut address, mut printed) = (String::new(), String::new(), String::new());
    while address.is_empty() {
        let mut line = String::new();
        assert_ne!(stdout.read_line(&mut line).unwrap(), 0, "demo exited early: {printed}");
        printed.push_str(&line);
        if let Some(rest) = line.split("one-time password: ").nth(1) {
            password = rest.trim().to_owned();
        }
        if let Some(rest) = line.strip_prefix("ketacare is serving on http://") {
            address = rest.split(' ').next().unwrap().to_owned();
        }
    }
    RunningDemo { child, stdout, password, address, printed }
}

/// Logs in over HTTP; returns the status and the login's JSON.
fn log_in(address: &str, username: &str, password: &str) -> (u16, Value) {
    let login = json!({ "username": username, "password": password }).to_string();
    let (status, _, body) = http(address, "POST", "/api/v1/session", &[("Content-Type", "application/json")], &login);
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn demo_serves_the_vignettes_with_the_clis_decisions_and_stops_on_sigterm() {
    each_backend(|db| async move {
        let RunningDemo { mut child, mut stdout, password, address, .. } = start_demo(&db.url);
        assert_eq!(http(&address, "GET", "/readyz", &[], "").0, 200);
        let login = format!(r#"{{"username":"admin","password":"{password}"}}"#);
        let (status, head, login_body) =
            http(&address, "POST", "/api/v1/session", &[("Content-Type", "application/json")], &login);
        assert_eq!(status, 200);
        let cookie = head
            .lines()
            .find_map(|line| line.strip_prefix("set-cookie: "))
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let session: Value = serde_json::from_str(&login_body).unwrap();
        assert_eq!(session["password_change_required"], true, "the printed password is one-time");
        let change = format!(r#"{{"current_password":"{password}","new_password":"the admin's own passphrase"}}"#);
        let csrf = session["csrf_token"].as_str().unwrap();
        let headers = [("Cookie", cookie.as_str()), ("X-CSRF-Token", csrf), ("Content-Type", "application/json")];
        assert_eq!(http(&address, "POST", "/api/v1/session/password", &headers, &change).0, 204);
        let (status, _, body) = http(&address, "GET", "/api/v1/patients?limit=200", &[("Cookie", &cookie)], "");
        assert_eq!(status, 200);
        let patients: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(patients["total"], 13);
        for patient in patients["patients"].as_array().unwrap() {
            let name = patient["family_name"].as_str().unwrap().strip_prefix("Vignette ").unwrap();
            let patient_id = patient["patient_id"].as_str().unwrap();
            let case_path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../vignettes/{name}.case.json"));
            let case: Value = serde_json::from_str(&std::fs::read_to_string(&case_path).unwrap()).unwrap();
            // Every chart record stored a decision.
            let path = format!("/api/v1/patients/{patient_id}/assessments");
            let (status, _, body) = http(&address, "GET", &path, &[("Cookie", &cookie)], "");
            assert_eq!(status, 200);
            let assessments: Value = serde_json::from_str(&body).unwrap();
            assert!(assessments["assessments"].as_array().unwrap().len() >= 3, "{name}: {assessments}");
            // The chart, evaluated as of the case's date, decides as the CLI does on the case file.
            let path = format!(
                "/api/v1/patients/{patient_id}/evaluation?as_of={}&modality={}&jurisdiction={}",
                case["as_of"].as_str().unwrap(),
                case["modality"].as_str().unwrap_or("both"),
                case["jurisdiction"].as_str().unwrap_or("US")
            );
            let (status, _, body) = http(&address, "GET", &path, &[("Cookie", &cookie)], "");
            assert_eq!(status, 200, "{name}: {body}");
            let evaluation: Value = serde_json::from_str(&body).unwrap();
            let cli = ketacare(&["assess", case_path.to_str().unwrap()], "");
            let mut cli_report: Value = serde_json::from_slice(&cli.stdout).unwrap();
            cli_report["patient_id"] = json!(patient_id);
            assert_eq!(evaluation["report"], cli_report, "{name}: API and CLI differ");
        }
        // The clinic's day: V5's esketamine session in progress with three alerts and its REMS form to file.
        let (status, _, body) = http(&address, "GET", "/api/v1/worklist", &[("Cookie", &cookie)], "");
        assert_eq!(status, 200, "{body}");
        let worklist: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(worklist["time_zone"], "America/New_York", "the clinic's zone is the worklist's default");
        let mut alerts: Vec<&str> = worklist["open_alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|alert| alert["alert_id"].as_str().unwrap())
            .collect();
        alerts.sort_unstable();
        assert_eq!(alerts, ["BP_HIGH#1", "DISSOCIATION#1", "SEDATION#1"], "{worklist}");
        assert_eq!(worklist["rems_forms_due"][0]["patient"]["family_name"], "Vignette V5", "{worklist}");
        let missing = worklist["rems_forms_due"][0]["missing"].as_array().unwrap();
        assert!(missing.contains(&json!("monitoring_hcp.email")), "{worklist}");
        let terminated = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        assert!(terminated.success());
        let status = child.wait().unwrap();
        assert!(status.success(), "graceful shutdown exits 0: {status:?}");
        let mut rest = String::new();
        stdout.read_to_string(&mut rest).unwrap();
        assert!(rest.contains("ketacare stopped"), "{rest}");
        let verify = ketacare(&["audit", "verify", "--database", &db.url], "");
        assert_eq!(verify.status.code(), Some(0), "{}", text(&verify.stderr));

        // The README's first command run again: it serves the same demo database with a new one-time
        // admin password (the changed one no longer works), and says how to start afresh.
        let mut again = start_demo(&db.url);
        assert!(again.printed.contains("serving the existing demo database"), "{}", again.printed);
        assert_ne!(again.password, password);
        assert_eq!(log_in(&again.address, "admin", "the admin's own passphrase").0, 401);
        let (status, session) = log_in(&again.address, "admin", &again.password);
        assert_eq!((status, session["password_change_required"].as_bool()), (200, Some(true)), "{session}");
        let terminated = Command::new("kill").args(["-TERM", &again.child.id().to_string()]).status().unwrap();
        assert!(terminated.success());
        assert!(again.child.wait().unwrap().success());
        let mut rest = String::new();
        again.stdout.read_to_string(&mut rest).unwrap();
    })
    .await;
}

#[test]
fn the_default_database_is_ketacare_db_in_the_working_directory() {
    let directory = std::env::temp_dir().join(format!("ketacare-default-db-{}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_ketacare"))
        .args(["migrate"])
        .env_remove("KETACARE_DATABASE_URL")
        .current_dir(&directory)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout).trim(),
        "sqlite://ketacare.db: applied migration(s) 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15"
    );
    assert!(directory.join("ketacare.db").exists());
    std::fs::remove_dir_all(&directory).unwrap();
}

#[test]
fn a_trusted_proxy_that_is_not_an_address_or_network_is_refused_by_name() {
    for bad in ["proxy.clinic.local", "10.0.0.0/33"] {
        let output = ketacare(&["serve", "--trusted-proxy", bad, "--bind", "127.0.0.1:0"], "");
        assert_eq!(output.status.code(), Some(2), "{bad}: {}", text(&output.stderr));
        let stderr = text(&output.stderr);
        assert!(stderr.contains("--trusted-proxy") && stderr.contains(bad), "{stderr}");
    }
}
