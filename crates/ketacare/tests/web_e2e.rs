//! The staff web application end to end in a real browser: headless Chromium driven over WebDriver
//! (chromedriver at `KETACARE_E2E_WEBDRIVER`, which `.ci/run` starts) against the real `ketacare demo`
//! on a temporary database. A nurse whose one-time password an admin's console reset signs in, chooses
//! a password, opens the worklist and the session in progress, types a blood pressure (Tab between the
//! fields, Enter saves) that raises an alert, and sees it on the reloaded page. Screenshots of the
//! worklist, a patient overview and the session page go to `target/e2e-screenshots/`. Then a prescriber
//! signs in on a second browser (a second WebDriver session) and opens the same session page: the
//! critical blood pressure the nurse charts next appears there within 2 seconds without a reload (the
//! live feed, server-sent events), and so does the next critical value on the prescriber's worklist.
//! The prescriber then signs an IV dose order from the overview's form for the patient whose induction
//! starts today, and starts that session with the worklist's Start button.
//! Every main page (sign-in, worklist, overview with its forms, session, a rating scale, the 404 page,
//! each intake page, each admin page) is checked with axe-core (vendored under `tests/vendor/axe-core/`),
//! injected through WebDriver: no serious or critical violation may remain.
//! One test is issue 13's continuous journey with one new patient, through the pages only, a nurse and a
//! prescriber on two browsers: the intake's screens to a TRD decision (a screening BP of 146/92, just
//! above the gate, holds eligibility), the prescriber's override of that hold on the overview, withdrawn
//! with a reason and recorded again, an esketamine plan and its signed dose order, the plan's first
//! session started from the overview, the pre-dose checks and readings and the dose with its lot, a
//! 205/122 that raises a CRITICAL alert seen on the prescriber's session page without a reload and
//! acknowledged, an entry entered in error and entered again, discharge, the REMS form opened from the
//! worklist's "REMS forms due" and submitted, the prescriber's sign-off, and the printable record, the
//! overview and the summary showing each step with people named. Screenshots: `journey-*.png`, `intake-*.png`.
//! Another has a nurse give the dose with a lot number on the demo's session in progress (the server's
//! refusal of a second dose shown with the lot kept), correct the dose on record and an entry, see the
//! REMS form's missing fields, then run a session through the pages to discharge and submit its REMS
//! form; the printable session record and the summary for prior authorisation are laid out with
//! Chromium's print emulation at an A4 page's text width and must fit it. Screenshots: `session-*.png`,
//! `summary.png`, `summary-print.png`.
//! Another has the nurse write, edit and sign the session note of a session run to discharge through the
//! pages, and the prescriber co-sign it from the worklist's "Notes awaiting co-signature"; then each
//! printable page (the session record with the signed note, the after-care sheet, the REMS form, the
//! summary for prior authorisation, the note) is laid out with print media emulated and saved as
//! `print-*.png`.
//! Another drives the admin pages (users, tokens, the protocol, the audit log) and a form sent after
//! the session ended, whose typed text comes back after signing in again.
//! Without `KETACARE_E2E_WEBDRIVER` the tests say they are skipped and pass; CI sets it.

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

const WEBDRIVER_VARIABLE: &str = "KETACARE_E2E_WEBDRIVER";
/// axe-core, injected into pages by WebDriver (never served by ketacare).
const AXE_SOURCE: &str = include_str!("vendor/axe-core/axe.min.js");
/// The WebDriver key code of Enter.
const ENTER: &str = "\u{E007}";

/// The demo server, stopped when the test ends however it ends.
struct DemoServer {
    child: Child,
    base_url: String,
    /// The clinic's zone the demo was started in (where it is about noon).
    time_zone: String,
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fixed-offset zone in which it is about noon now. The demo places its sessions relative to now (one
/// started 100 minutes ago, one an hour ahead) and the worklist shows the clinic's day, so near midnight in
/// the demo's zone they would fall on two days; the test, which may run at any hour, uses a zone where it is
/// midday.
fn midday_time_zone() -> String {
    let seconds = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let utc_hour = i64::try_from(seconds / 3600 % 24).unwrap();
    // Etc/GMT-N is N hours ahead of UTC (POSIX's inverted sign).
    match 12 - utc_hour {
        0 => "Etc/GMT".to_owned(),
        ahead if ahead > 0 => format!("Etc/GMT-{ahead}"),
        behind => format!("Etc/GMT+{}", -behind),
    }
}

fn start_demo(database_url: &str) -> DemoServer {
    start_demo_with(database_url, &[])
}

/// The demo with more `serve` options (`--clinic-phone …`).
fn start_demo_with(database_url: &str, more_args: &[&str]) -> DemoServer {
    let time_zone = midday_time_zone();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ketacare"))
        .args(["demo", "--database", database_url, "--bind", "127.0.0.1:0", "--time-zone", &time_zone])
        .args(more_args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ketacare demo");
    let stdout = child.stdout.take().expect("the demo's output");
    let mut lines = BufReader::new(stdout).lines();
    let base_url = loop {
        let line = lines.next().expect("the demo prints its address").expect("read the demo's output");
        if let Some(rest) = line.strip_prefix("ketacare is serving on ") {
            break rest.split_whitespace().next().expect("an address").to_owned();
        }
    };
    // Keep reading so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    DemoServer { child, base_url, time_zone }
}

/// `ketacare user reset-password USERNAME`, as a clinic's administrator would at the console.
fn reset_password(database_url: &str, username: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_ketacare"))
        .args(["user", "reset-password", username, "--database", database_url])
        .output()
        .expect("run ketacare user reset-password");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).unwrap();
    text.split_whitespace().last().expect("the one-time password").to_owned()
}

/// Runs axe-core on the page the browser shows and fails on any serious or critical violation, listing
/// each with the elements it found.
async fn assert_accessible(browser: &Client, page: &str) {
    let injected =
        browser.execute(&format!("{AXE_SOURCE}\nreturn typeof axe;"), Vec::new()).await.expect("inject axe-core");
    assert_eq!(injected, json!("object"), "axe-core is on {page}");
    let outcome = browser
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
            axe.run(document)
              .then((results) => done({ rules_passed: results.passes.length, violations: results.violations
                .filter((violation) => violation.impact === "serious" || violation.impact === "critical")
                .map((violation) => ({ id: violation.id, impact: violation.impact, help: violation.help,
                  nodes: violation.nodes.slice(0, 5).map((node) => node.target.join(" ")) })) }))
              .catch((error) => done({ rules_passed: 0, violations: [{ id: "axe-failed", help: String(error) }] }));"#,
            Vec::new(),
        )
        .await
        .expect("run axe-core");
    assert_eq!(outcome["violations"], json!([]), "serious or critical accessibility violations on {page}");
    let rules_passed = outcome["rules_passed"].as_u64().unwrap_or(0);
    assert!(rules_passed > 10, "axe-core checked {page}: {outcome}");
    println!("axe-core: {rules_passed} rules passed and no serious or critical violations on {page}");
}

fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/e2e-screenshots");
    std::fs::create_dir_all(&dir).expect("create target/e2e-screenshots");
    dir
}

async fn screenshot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.expect("take a screenshot");
    let path = screenshot_dir().join(name);
    std::fs::write(&path, png).expect("save the screenshot");
    println!("screenshot: {}", path.display());
}

async fn type_into(browser: &Client, css: &str, text: &str) {
    browser.find(Locator::Css(css)).await.unwrap_or_else(|_| panic!("find {css}")).send_keys(text).await.unwrap();
}

async fn wait_for_path(browser: &Client, fragment: &str) {
    for _ in 0..100 {
        if browser.current_url().await.unwrap().as_str().contains(fragment) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let page = browser.source().await.unwrap_or_default();
    panic!("the browser never reached {fragment}: at {}\n{page}", browser.current_url().await.unwrap());
}

async fn browser(webdriver: &str) -> Client {
    let mut chrome_options = json!({
        "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,1000"]
    });
    if std::path::Path::new("/usr/bin/chromium").exists() {
        chrome_options["binary"] = json!("/usr/bin/chromium");
    }
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("browserName".to_owned(), json!("chrome"));
    capabilities.insert("goog:chromeOptions".to_owned(), chrome_options);
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(webdriver)
        .await
        .expect("connect to chromedriver")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nurse_charts_a_blood_pressure_that_raises_an_alert_in_a_real_browser() {
    let Ok(webdriver) = std::env::var(WEBDRIVER_VARIABLE) else {
        println!("skipped: set {WEBDRIVER_VARIABLE} to a chromedriver URL (e.g. http://127.0.0.1:9515) to run it");
        return;
    };
    let directory = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}", directory.path().join("demo.db").display());
    let demo = start_demo(&database_url);
    let nurse_password = reset_password(&database_url, "demo.nurse");
    let prescriber_password = reset_password(&database_url, "demo.prescriber");
    let nurse_browser = browser(&webdriver).await;
    let prescriber_browser = browser(&webdriver).await;
    let outcome = async {
        let session_url = run_the_nurses_session(&nurse_browser, &demo.base_url, &nurse_password).await?;
        watch_from_a_second_browser(
            &nurse_browser,
            &prescriber_browser,
            &demo.base_url,
            &session_url,
            &prescriber_password,
        )
        .await
    }
    .await;
    let _ = nurse_browser.close().await;
    let _ = prescriber_browser.close().await;
    outcome.expect("the nurse's session in the browser");
}

/// Signs in with a one-time password and chooses a new one, as the application asks first.
async fn sign_in_with_one_time_password(
    browser: &Client,
    base_url: &str,
    username: &str,
    one_time_password: &str,
    new_password: &str,
) -> Result<(), String> {
    browser.goto(base_url).await.map_err(|e| e.to_string())?;
    if username == "demo.nurse" {
        assert_accessible(browser, "the sign-in page").await;
    }
    type_into(browser, "#username", username).await;
    type_into(browser, "#password", one_time_password).await;
    browser.find(Locator::Css("main button[type=submit]")).await.unwrap().click().await.unwrap();
    wait_for_path(browser, "/password").await;
    type_into(browser, "#current_password", one_time_password).await;
    type_into(browser, "#new_password", new_password).await;
    type_into(browser, "#confirm_password", new_password).await;
    browser.find(Locator::Css("main button[type=submit]")).await.unwrap().click().await.unwrap();
    wait_for_path(browser, "/worklist").await;
    Ok(())
}

async fn run_the_nurses_session(browser: &Client, base_url: &str, one_time_password: &str) -> Result<String, String> {
    // Sign in with the one-time password; the application asks for a new one first.
    sign_in_with_one_time_password(browser, base_url, "demo.nurse", one_time_password, "a nurse's own password")
        .await?;
    let worklist = browser.source().await.unwrap();
    assert!(worklist.contains("Open alerts") && worklist.contains("WARNING"), "{worklist}");
    screenshot(browser, "worklist.png").await;
    assert_accessible(browser, "the worklist").await;

    // The session in progress, from the worklist; then the patient's overview, from its breadcrumb.
    browser
        .find(Locator::XPath("//a[starts-with(normalize-space(.), 'Open session')]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_path(browser, "/sessions/").await;
    let session_url = browser.current_url().await.unwrap();
    let patient_link = browser.find(Locator::Css(".breadcrumb a:nth-of-type(2)")).await.unwrap();
    patient_link.click().await.unwrap();
    browser.wait().for_element(Locator::Id("decisions-title")).await.unwrap();
    let overview = browser.source().await.unwrap();
    assert!(overview.contains("Eligibility") && overview.contains("ELIGIBLE"), "{overview}");
    screenshot(browser, "patient-overview.png").await;
    assert_accessible(browser, "the patient overview").await;
    // The symptom chart of the demo's course (its MADRS and PHQ-9 results and its sessions).
    let scales = browser.find(Locator::Id("scales")).await.unwrap();
    let chart = scales.text().await.unwrap();
    assert!(chart.contains("Rating scales") && chart.contains("MADRS"), "{chart}");
    let png = scales.screenshot().await.expect("screenshot the symptom chart");
    std::fs::write(screenshot_dir().join("symptom-chart.png"), png).expect("save the screenshot");
    browser.goto(session_url.as_str()).await.unwrap();

    // SBP, Tab, DBP, Tab, HR, Enter: the entry is saved and the page comes back with the alert it raised.
    let systolic = browser.find(Locator::Id("systolic")).await.unwrap();
    systolic.click().await.unwrap();
    systolic.send_keys(&format!("188\t112\t92{ENTER}")).await.unwrap();
    wait_for_path(browser, "saved=").await;
    let page = browser.source().await.unwrap();
    assert!(page.contains("saved for"), "the page says the entry was saved: {page}");
    let alerts = browser.find(Locator::Id("alerts")).await.unwrap().text().await.unwrap();
    assert!(alerts.contains("BP 188/112 mmHg"), "the alert raised by the entry is shown: {alerts}");
    assert!(alerts.contains("NEW"), "the alert is marked as raised by this entry: {alerts}");
    browser.set_window_size(1280, 2400).await.unwrap();
    browser.goto(session_url.as_str()).await.unwrap();
    screenshot(browser, "session.png").await;
    assert_accessible(browser, "the session page").await;
    // A tablet held upright: the same page at 768 px wide still has its entry form and alerts.
    browser.set_window_size(768, 1024).await.unwrap();
    browser.goto(&format!("{base_url}/worklist")).await.unwrap();
    screenshot(browser, "worklist-768.png").await;
    browser.set_window_size(1280, 1000).await.unwrap();
    Ok(session_url.to_string())
}

/// Waits until the page's live feed is open (the script says "Live" once the stream answers).
async fn wait_for_live_feed(browser: &Client) {
    for _ in 0..100 {
        let status = browser.find(Locator::Css("[data-live-status]")).await.unwrap().text().await.unwrap();
        if status.starts_with("Live:") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = browser.find(Locator::Css("[data-live-status]")).await.unwrap().text().await.unwrap();
    panic!("the live feed never opened on {} (its line says: {status})", browser.current_url().await.unwrap());
}

/// Marks the page so that a reload (which would clear the mark) can be told apart from a live update.
async fn mark_page(browser: &Client) {
    browser.execute("window.ketacareNotReloaded = true; return true;", Vec::new()).await.unwrap();
}

async fn page_was_not_reloaded(browser: &Client) -> bool {
    browser.execute("return window.ketacareNotReloaded === true;", Vec::new()).await.unwrap() == json!(true)
}

/// Polls the text of the element with `id` until it contains `expected`, for at most `limit`.
async fn text_appears_within(browser: &Client, id: &str, expected: &str, limit: Duration) -> Result<Duration, String> {
    let started = std::time::Instant::now();
    loop {
        let text = browser.find(Locator::Id(id)).await.map_err(|e| e.to_string())?.text().await.unwrap_or_default();
        if text.contains(expected) {
            return Ok(started.elapsed());
        }
        if started.elapsed() > limit {
            return Err(format!("\"{expected}\" did not appear in #{id} within {limit:?}: {text}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The prescriber's screen, on a second browser, follows what the nurse charts: without reloading, the
/// session page shows the critical alert within 2 s, and then the worklist shows the next one.
async fn watch_from_a_second_browser(
    nurse: &Client,
    prescriber: &Client,
    base_url: &str,
    session_url: &str,
    one_time_password: &str,
) -> Result<(), String> {
    const WITHIN: Duration = Duration::from_secs(2);
    sign_in_with_one_time_password(
        prescriber,
        base_url,
        "demo.prescriber",
        one_time_password,
        "a prescriber's own password",
    )
    .await?;
    prescriber.goto(session_url).await.map_err(|e| e.to_string())?;
    wait_for_live_feed(prescriber).await;
    mark_page(prescriber).await;

    // Any single BP at or above 200/120 is critical (clinical-reference §4.4).
    nurse.goto(session_url).await.map_err(|e| e.to_string())?;
    let systolic = nurse.find(Locator::Id("systolic")).await.unwrap();
    systolic.click().await.unwrap();
    systolic.send_keys(&format!("205\t122{ENTER}")).await.unwrap();
    let took = text_appears_within(prescriber, "alerts", "BP 205/122 mmHg", WITHIN).await?;
    let alerts = prescriber.find(Locator::Id("alerts")).await.unwrap().text().await.unwrap();
    assert!(alerts.contains("CRITICAL"), "the prescriber sees the alert as critical: {alerts}");
    assert!(page_was_not_reloaded(prescriber).await, "the session page updated without a reload");
    println!("the critical alert reached the second browser's session page in {took:?}");
    screenshot(prescriber, "session-live-second-browser.png").await;

    // The worklist follows too: an SpO2 at or below 92 % is critical (clinical-reference §4.4).
    prescriber.goto(&format!("{base_url}/worklist")).await.map_err(|e| e.to_string())?;
    wait_for_live_feed(prescriber).await;
    mark_page(prescriber).await;
    wait_for_path(nurse, "saved=").await;
    let spo2 = nurse.find(Locator::Id("spo2")).await.unwrap();
    spo2.click().await.unwrap();
    spo2.send_keys(&format!("90{ENTER}")).await.unwrap();
    let took = text_appears_within(prescriber, "worklist-lists", "SpO2 90 %", WITHIN).await?;
    assert!(page_was_not_reloaded(prescriber).await, "the worklist updated without a reload");
    println!("the critical alert reached the second browser's worklist in {took:?}");
    prescribe_and_start_from_the_worklist(prescriber).await
}

/// The prescriber signs an IV order for the patient whose induction starts today (the demo's V1), from
/// the overview's form, then starts that session with the worklist's Start button.
async fn prescribe_and_start_from_the_worklist(prescriber: &Client) -> Result<(), String> {
    let start_button = "//button[starts-with(normalize-space(.), 'Start session')]";
    let patient_link = format!("{start_button}/ancestor::tr//td[2]/a");
    prescriber.find(Locator::XPath(&patient_link)).await.map_err(|e| e.to_string())?.click().await.unwrap();
    prescriber.wait().for_element(Locator::Id("orders-title")).await.unwrap();
    prescriber.find(Locator::Css("#orders details summary")).await.unwrap().click().await.unwrap();
    prescriber
        .find(Locator::Css("#order-modality option[value=iv_racemic_ketamine]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    prescriber
        .find(Locator::XPath("//button[normalize-space(.)='Sign the order']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_path(prescriber, "saved=order").await;
    let orders = prescriber.find(Locator::Id("orders")).await.unwrap().text().await.unwrap();
    assert!(orders.contains("mg/kg") && orders.contains("pump"), "the signed IV order with its dose: {orders}");
    screenshot(prescriber, "patient-overview-order.png").await;
    assert_accessible(prescriber, "the patient overview with the prescriber's forms").await;
    let overview_url = prescriber.current_url().await.unwrap();
    let overview_path = overview_url.path().to_owned();
    prescriber.goto(overview_url.join(&format!("{overview_path}/scales/phq9")).unwrap().as_str()).await.unwrap();
    prescriber.find(Locator::Id("item-0-1")).await.unwrap().click().await.unwrap();
    prescriber.find(Locator::Id("item-1-3")).await.unwrap().click().await.unwrap();
    let total = prescriber.find(Locator::Css("[data-running-total]")).await.unwrap().text().await.unwrap();
    assert!(total.starts_with("Total so far: 4 of 27"), "the running total: {total}");
    assert_accessible(prescriber, "the PHQ-9 form").await;
    prescriber.goto(overview_url.join("/no-such-page").unwrap().as_str()).await.unwrap();
    assert_accessible(prescriber, "the page-not-found page").await;
    prescriber.goto(overview_url.as_str()).await.unwrap();
    prescriber.find(Locator::Css("nav a[href='/worklist']")).await.unwrap().click().await.unwrap();
    wait_for_path(prescriber, "/worklist").await;
    prescriber.find(Locator::XPath(start_button)).await.map_err(|e| e.to_string())?.click().await.unwrap();
    wait_for_path(prescriber, "/sessions/").await;
    let heading = prescriber.find(Locator::Css("h1")).await.unwrap().text().await.unwrap();
    assert!(heading.starts_with("IV ketamine session"), "the started session's page: {heading}");
    let dose = prescriber.find(Locator::Id("dose")).await.unwrap().text().await.unwrap();
    assert!(dose.contains("mg/kg"), "the session gives the order: {dose}");
    Ok(())
}

/// The text of the one-time secret (password or token) a page shows once, waiting for the page that shows
/// it (a click that sends a form may return before the answer is loaded, more often on a busy machine).
async fn one_time_secret(browser: &Client) -> String {
    let secret = browser.wait().for_element(Locator::Css("[data-one-time-secret]")).await;
    secret.expect("a one-time secret").text().await.unwrap()
}

/// Clicks the button (or link) whose text starts with `text` in the users table's row of `username`.
async fn click_in_user_row(browser: &Client, username: &str, control: &str, text: &str) {
    let xpath =
        format!("//tr[th[normalize-space(.)='{username}']]//{control}[starts-with(normalize-space(.), '{text}')]");
    browser.find(Locator::XPath(&xpath)).await.unwrap_or_else(|_| panic!("find {xpath}")).click().await.unwrap();
}

/// The demo's admin, in a real browser: creates an account (its one-time password shown once), which a
/// colleague uses on a second browser and makes an API token with; revokes that token and resets another
/// account's password; changes the colleague's role, which ends their session while they are typing a
/// blood pressure on the session page: their Enter lands on the sign-in page, which says the form was not
/// saved and, once they sign in again, takes them back to the session page with what they typed filled in
/// (kept in the tab's sessionStorage by the script), to send it. (The demo has no idle-timeout setting;
/// the role change ends the session on the server exactly as idle expiry does: the session row is gone and
/// the cookie is refused.) Then the admin reads the protocol in effect, filters the audit log and verifies
/// it, and receives a lot of ketamine on the controlled-substances page and opens its report. axe-core runs
/// on each new page; screenshots go to target/e2e-screenshots/admin-*.png.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_manages_accounts_tokens_the_protocol_and_the_audit_log_and_an_expired_form_keeps_its_text() {
    let Ok(webdriver) = std::env::var(WEBDRIVER_VARIABLE) else {
        println!("skipped: set {WEBDRIVER_VARIABLE} to a chromedriver URL (e.g. http://127.0.0.1:9515) to run it");
        return;
    };
    let directory = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}", directory.path().join("demo.db").display());
    let demo = start_demo(&database_url);
    let admin_password = reset_password(&database_url, "admin");
    let admin = browser(&webdriver).await;
    let colleague = browser(&webdriver).await;
    let outcome = administer_in_the_browser(&admin, &colleague, &demo.base_url, &admin_password).await;
    let _ = admin.close().await;
    let _ = colleague.close().await;
    outcome.expect("the admin pages in the browser");
}

async fn administer_in_the_browser(
    admin: &Client,
    colleague: &Client,
    base_url: &str,
    one_time_password: &str,
) -> Result<(), String> {
    sign_in_with_one_time_password(admin, base_url, "admin", one_time_password, "the admin's own password").await?;
    admin.find(Locator::Css("nav a[href='/admin/users']")).await.unwrap().click().await.unwrap();
    wait_for_path(admin, "/admin/users").await;
    assert_accessible(admin, "the users page").await;
    screenshot(admin, "admin-users.png").await;

    // A new account, with its one-time password shown once.
    type_into(admin, "#new-username", "e2e.nurse").await;
    admin.find(Locator::Css("#new-role option[value=nurse]")).await.unwrap().click().await.unwrap();
    admin
        .find(Locator::XPath("//button[normalize-space(.)='Create the account']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let created_password = one_time_secret(admin).await;
    let notice = admin.wait().for_element(Locator::Css(".one-time")).await.unwrap().text().await.unwrap();
    assert!(notice.contains("Account e2e.nurse created (nurse)"), "{notice}");
    screenshot(admin, "admin-user-created.png").await;
    assert_accessible(admin, "the users page with a one-time password").await;

    // The colleague signs in with it on a second browser and makes an API token.
    sign_in_with_one_time_password(colleague, base_url, "e2e.nurse", &created_password, "the colleague's password")
        .await?;
    colleague.find(Locator::Css("a[href='/account/tokens']")).await.unwrap().click().await.unwrap();
    wait_for_path(colleague, "/account/tokens").await;
    type_into(colleague, "#label", "nightly export").await;
    colleague
        .find(Locator::XPath("//button[normalize-space(.)='Create the token']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let token = one_time_secret(colleague).await;
    assert!(token.starts_with("kc_"), "the token is shown once: {token}");
    screenshot(colleague, "admin-own-tokens.png").await;
    assert_accessible(colleague, "your API tokens").await;

    // The admin revokes it from the colleague's token list.
    admin.goto(&format!("{base_url}/admin/users")).await.unwrap();
    click_in_user_row(admin, "e2e.nurse", "a", "API tokens").await;
    wait_for_path(admin, "/tokens").await;
    admin
        .find(Locator::XPath("//button[starts-with(normalize-space(.), 'Revoke')]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_path(admin, "saved=revoked").await;
    let tokens = admin.find(Locator::Css("main")).await.unwrap().text().await.unwrap();
    assert!(tokens.contains("The token was revoked.") && tokens.contains("Revoked"), "{tokens}");
    screenshot(admin, "admin-user-tokens.png").await;
    assert_accessible(admin, "an account's API tokens").await;

    // A password reset shows the new one-time password once.
    admin.goto(&format!("{base_url}/admin/users")).await.unwrap();
    click_in_user_row(admin, "demo.nurse", "button", "Reset password").await;
    let reset = admin.wait().for_element(Locator::Css(".one-time")).await.unwrap().text().await.unwrap();
    assert!(reset.contains("New one-time password for demo.nurse"), "{reset}");
    assert!(one_time_secret(admin).await.len() >= 12);
    screenshot(admin, "admin-password-reset.png").await;

    // The colleague types a blood pressure on the session in progress...
    colleague.goto(&format!("{base_url}/worklist")).await.unwrap();
    colleague
        .find(Locator::XPath("//a[starts-with(normalize-space(.), 'Open session')]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_path(colleague, "/sessions/").await;
    let session_url = colleague.current_url().await.unwrap().to_string();
    let systolic = colleague.find(Locator::Id("systolic")).await.unwrap();
    systolic.click().await.unwrap();
    systolic.send_keys("151\t93").await.unwrap();
    // ...when their session ends on the server: the admin changes their role.
    admin.goto(&format!("{base_url}/admin/users")).await.unwrap();
    let role = "//tr[th[normalize-space(.)='e2e.nurse']]//select/option[@value='prescriber']";
    admin.find(Locator::XPath(role)).await.unwrap().click().await.unwrap();
    click_in_user_row(admin, "e2e.nurse", "button", "Change role").await;
    wait_for_path(admin, "saved=role").await;
    let notice = admin.find(Locator::Css(".notice")).await.unwrap().text().await.unwrap();
    assert!(notice.contains("The role of e2e.nurse was changed"), "{notice}");

    // Enter sends the form: it bounces to the sign-in page, which says so and keeps what was typed.
    colleague.find(Locator::Id("diastolic")).await.unwrap().send_keys(ENTER).await.unwrap();
    wait_for_path(colleague, "unsent=1").await;
    let notice = colleague.find(Locator::Css("[data-unsent-form]")).await.unwrap().text().await.unwrap();
    assert!(notice.contains("the form you sent was not saved"), "{notice}");
    assert!(notice.contains("What you typed is kept"), "the script says it kept the form: {notice}");
    screenshot(colleague, "admin-expired-sign-in.png").await;
    assert_accessible(colleague, "the sign-in page after an unsent form").await;
    type_into(colleague, "#username", "e2e.nurse").await;
    type_into(colleague, "#password", "the colleague's password").await;
    colleague.find(Locator::Css("main button[type=submit]")).await.unwrap().click().await.unwrap();
    for _ in 0..100 {
        if colleague.current_url().await.unwrap().as_str() == session_url {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(colleague.current_url().await.unwrap().as_str(), session_url, "back on the session page");
    colleague.wait().for_element(Locator::Css("[data-restored-form]")).await.map_err(|e| e.to_string())?;
    let value = |id: &'static str| async move {
        colleague.find(Locator::Id(id)).await.unwrap().prop("value").await.unwrap().unwrap_or_default()
    };
    assert_eq!((value("systolic").await, value("diastolic").await), ("151".to_owned(), "93".to_owned()));
    screenshot(colleague, "admin-expired-form-restored.png").await;
    colleague.find(Locator::Id("diastolic")).await.unwrap().send_keys(ENTER).await.unwrap();
    wait_for_path(colleague, "saved=").await;
    let page = colleague.source().await.unwrap();
    assert!(page.contains("saved for") && page.contains("151/93"), "the entry was saved after signing in again");
    let kept: serde_json::Value =
        colleague.execute("return window.sessionStorage.getItem('ketacare.unsent-form');", Vec::new()).await.unwrap();
    assert_eq!(kept, json!(null), "nothing is kept once the form went through");

    // The protocol in effect, each value with its source and the UNCONFIRMED ones flagged.
    admin.find(Locator::Css("nav a[href='/protocol']")).await.unwrap().click().await.unwrap();
    wait_for_path(admin, "/protocol").await;
    let protocol = admin.find(Locator::Css("main")).await.unwrap().text().await.unwrap();
    assert!(protocol.contains("UNCONFIRMED") && protocol.contains("clinical-reference §"), "{protocol}");
    screenshot(admin, "admin-protocol.png").await;
    assert_accessible(admin, "the protocol page").await;

    // The audit log, filtered to the colleague's token actions, then verified.
    admin.find(Locator::Css("nav a[href='/audit']")).await.unwrap().click().await.unwrap();
    wait_for_path(admin, "/audit").await;
    type_into(admin, "#user", "e2e.nurse").await;
    type_into(admin, "#action", "token.*").await;
    admin.find(Locator::XPath("//button[normalize-space(.)='Show events']")).await.unwrap().click().await.unwrap();
    wait_for_path(admin, "action=token").await;
    let events = admin.find(Locator::Css(".audit-table tbody")).await.unwrap().text().await.unwrap();
    assert!(events.contains("token.create") && events.contains("e2e.nurse"), "{events}");
    assert!(!events.contains("session.login"), "only the filtered actions: {events}");
    screenshot(admin, "admin-audit.png").await;
    assert_accessible(admin, "the audit log").await;
    admin.find(Locator::LinkText("Verify the audit log now")).await.unwrap().click().await.unwrap();
    wait_for_path(admin, "/audit/verify").await;
    let report = admin.find(Locator::Css("main")).await.unwrap().text().await.unwrap();
    assert!(report.contains("INTACT"), "{report}");
    screenshot(admin, "admin-audit-verify.png").await;
    assert_accessible(admin, "the audit verification").await;

    // The controlled-substance record: the admin receives a lot, sees its balance, and opens its report.
    admin.find(Locator::Css("nav a[href='/controlled-substances']")).await.unwrap().click().await.unwrap();
    wait_for_path(admin, "/controlled-substances").await;
    assert_accessible(admin, "the controlled-substances page").await;
    for (id, text) in [
        ("#received-ndc", "0409-2051-05"),
        ("#received-lot_number", "E2E-KET-1"),
        ("#received-location", "safe A"),
        ("#received-quantity_mg", "500"),
        ("#received-supplier", "Cardinal Health"),
    ] {
        type_into(admin, id, text).await;
    }
    set_date(admin, "received-expiry_date", "2030-06-30").await;
    admin
        .find(Locator::XPath("//button[normalize-space(.)='Record the receipt']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_path(admin, "saved=received").await;
    let stock = admin.find(Locator::Css("main")).await.unwrap().text().await.unwrap();
    assert!(stock.contains("The receipt was recorded.") && stock.contains("E2E-KET-1"), "{stock}");
    screenshot(admin, "admin-controlled-substances.png").await;
    assert_accessible(admin, "the controlled-substances page with a lot").await;
    admin.find(Locator::Css("a[href^='/controlled-substances/report?lot_id=']")).await.unwrap().click().await.unwrap();
    wait_for_path(admin, "/controlled-substances/report").await;
    let report = admin.find(Locator::Css("main")).await.unwrap().text().await.unwrap();
    assert!(report.contains("E2E-KET-1") && report.contains("Cardinal Health"), "{report}");
    screenshot(admin, "admin-controlled-substance-report.png").await;
    assert_accessible(admin, "the controlled-substance report").await;
    Ok(())
}

/// Sets a date input's value as `YYYY-MM-DD` (typing into a date input depends on the browser's locale).
async fn set_date(browser: &Client, id: &str, date: &str) {
    browser
        .execute(
            "document.getElementById(arguments[0]).value = arguments[1]; return true;",
            vec![json!(id), json!(date)],
        )
        .await
        .unwrap_or_else(|error| panic!("set #{id}: {error}"));
}

async fn click(browser: &Client, locator: Locator<'_>) {
    browser.find(locator).await.unwrap_or_else(|error| panic!("find {locator:?}: {error}")).click().await.unwrap();
}

/// Sends the page's form and waits for the page it answers with (a new page, at an address containing
/// `fragment`): the address alone cannot tell two saves of one step apart.
async fn submit_and_wait_for(browser: &Client, fragment: &str) {
    mark_page(browser).await;
    click(browser, Locator::Css("main form button[type=submit]")).await;
    for _ in 0..100 {
        if !page_was_not_reloaded(browser).await && browser.current_url().await.unwrap().as_str().contains(fragment) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no new page at {fragment} after the form was sent: at {}", browser.current_url().await.unwrap());
}

/// Clicks the button saying `words` and waits for the page the server answers with (a new page, at an
/// address containing `fragment`), told apart from the page before it even when their addresses match.
async fn click_button_and_wait_for(browser: &Client, words: &str, fragment: &str) {
    mark_page(browser).await;
    click_button(browser, words).await;
    for _ in 0..100 {
        if !page_was_not_reloaded(browser).await && browser.current_url().await.unwrap().as_str().contains(fragment) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no new page at {fragment} after {words}: at {}", browser.current_url().await.unwrap());
}

/// The status word of an intake step on the task list.
async fn task_status(browser: &Client, step: &str) -> String {
    browser.find(Locator::Id(&format!("task-{step}-status"))).await.unwrap().text().await.unwrap()
}

/// Issue 13's journey, through the pages only, with one new patient: a nurse takes the patient in through
/// the intake's screens (`intake_in_the_browser`, its screening blood pressure 146/92, just above the
/// 140/90 at which eligibility holds for a prescriber's decision); a prescriber, on a second browser,
/// overrides that hold on the overview, withdraws the override with a reason, and records it again;
/// prescribes an esketamine plan and signs the dose order for it; the nurse starts the plan's first
/// session from the overview, charts the pre-dose checks and readings and gives the dose with its lot;
/// a blood pressure of 205/122 raises a CRITICAL alert that the prescriber's session page shows without a
/// reload, and the prescriber acknowledges it; the nurse marks an entry entered in error and enters it
/// again, discharges the patient, and opens the REMS form from the worklist's "REMS forms due" to complete
/// and submit it; the prescriber signs and locks the session; the session page, the printable session
/// record, the overview and the summary then show it all, with people named. Screenshots:
/// `journey-*.png` (and the intake's `intake-*.png`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nurse_and_a_prescriber_take_a_new_patient_from_intake_to_a_signed_session_in_a_real_browser() {
    let Ok(webdriver) = std::env::var(WEBDRIVER_VARIABLE) else {
        println!("skipped: set {WEBDRIVER_VARIABLE} to a chromedriver URL (e.g. http://127.0.0.1:9515) to run it");
        return;
    };
    let directory = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}", directory.path().join("demo.db").display());
    let demo = start_demo(&database_url);
    let passwords = (reset_password(&database_url, "demo.nurse"), reset_password(&database_url, "demo.prescriber"));
    let nurse = browser(&webdriver).await;
    let prescriber = browser(&webdriver).await;
    let outcome = the_journey(&nurse, &prescriber, &webdriver, &demo, &passwords).await;
    let _ = nurse.close().await;
    let _ = prescriber.close().await;
    outcome.expect("the new patient's journey in the browser");
}

/// The journey's steps in order (each a function below); `passwords` are the nurse's and the
/// prescriber's one-time passwords.
async fn the_journey(
    nurse: &Client,
    prescriber: &Client,
    webdriver: &str,
    demo: &DemoServer,
    passwords: &(String, String),
) -> Result<(), String> {
    let base_url = demo.base_url.as_str();
    intake_in_the_browser(nurse, base_url, &passwords.0, ("146", "92")).await?;
    let patient_url = nurse.current_url().await.unwrap();
    let patient_url = format!("{}{}", patient_url.origin().ascii_serialization(), patient_url.path());
    sign_in_with_one_time_password(
        prescriber,
        base_url,
        "demo.prescriber",
        &passwords.1,
        "a prescriber's own password",
    )
    .await?;
    find_the_patient(prescriber, "Intake-Hopper", &patient_url).await?;
    override_withdraw_and_override_again(prescriber).await?;
    // Every time is the clinic's: the plan's first session three hours ago, so the patient can be
    // monitored to discharge within the test.
    let zone = jiff::tz::TimeZone::get(&demo.time_zone).unwrap();
    let now = jiff::Timestamp::now().to_zoned_datetime(zone).strftime("%Y-%m-%dT%H:%M").to_string();
    prescribe_the_plan_and_sign_the_order(prescriber, &minutes_before(&now, 180)).await?;
    let session_url = start_the_plans_first_session(nurse, &patient_url).await?;
    record_the_consent_the_gate_asks_for(nurse, &session_url).await?;
    let now = field_value(nurse, "at").await;
    chart_the_pre_dose_facts_and_give_the_dose(nurse, &session_url, &now, "E2E-JOURNEY-1").await;
    let dose = text_of(nurse, "dose").await;
    assert!(dose.contains("56 mg esketamine (2 devices)") && dose.contains("lot E2E-JOURNEY-1"), "{dose}");
    screenshot(nurse, "journey-dose.png").await;
    enter_a_row_of_vital_signs(nurse, &session_url, &minutes_before(&now, 138), "132\t80\t74\t98\t14\t5\t0").await;
    a_critical_blood_pressure_seen_on_the_second_browser(nurse, prescriber, &session_url, &now).await?;
    for (minutes, keys) in [(100, "150\t90\t80\t98\t14\t5\t0"), (60, "126\t78\t70\t98\t14\t5\t0")] {
        enter_a_row_of_vital_signs(nurse, &session_url, &minutes_before(&now, minutes), keys).await;
    }
    correct_an_entry_entered_in_error(nurse, &session_url).await?;
    discharge_through_the_pages(nurse, &session_url).await?;
    let discharge = text_of(nurse, "discharge").await;
    assert!(discharge.contains("by you (demo.nurse)"), "{discharge}");
    screenshot(nurse, "journey-discharged.png").await;
    submit_the_rems_form_from_the_worklist(nurse, base_url, &session_url).await?;
    sign_off(prescriber, &session_url).await?;
    the_chart_shows_it_all(prescriber, webdriver, &patient_url, &session_url).await
}

/// The prescriber finds the patient with the patient list's one search box and opens the overview.
async fn find_the_patient(browser: &Client, search: &str, patient_url: &str) -> Result<(), String> {
    click(browser, Locator::Css("nav a[href='/patients']")).await;
    wait_for_path(browser, "/patients").await;
    type_into(browser, "#q", &format!("{search}{ENTER}")).await;
    wait_for_path(browser, "q=").await;
    let link = browser
        .find(Locator::XPath(&format!("//main//a[contains(normalize-space(.), '{search}')]")))
        .await
        .map_err(|e| format!("the patient list finds {search}: {e}"))?;
    link.click().await.unwrap();
    browser.wait().for_element(Locator::Id("decisions-title")).await.map_err(|e| e.to_string())?;
    assert_eq!(browser.current_url().await.unwrap().as_str(), patient_url, "the new patient's overview");
    Ok(())
}

/// The text of the eligibility decision of one modality on the overview (`Esketamine nasal spray: …`).
async fn eligibility_of(browser: &Client, modality: &str) -> String {
    let xpath = format!("//div[@class='eligibility'][h4[starts-with(normalize-space(.), '{modality}')]]");
    browser
        .find(Locator::XPath(&xpath))
        .await
        .unwrap_or_else(|_| panic!("{modality}'s eligibility"))
        .text()
        .await
        .unwrap()
}

/// The screening blood pressure of 146/92 holds eligibility for a prescriber's decision (BP_ELEVATED):
/// the prescriber overrides it with a reason, withdraws the override (it was recorded before the repeat
/// reading was reviewed), and records it again; each time the overview shows the decision made again.
async fn override_withdraw_and_override_again(prescriber: &Client) -> Result<(), String> {
    let held = eligibility_of(prescriber, "Esketamine").await;
    assert!(held.contains("BP_ELEVATED") && held.contains("146/92") && !held.contains("Overridden by"), "{held}");
    assert!(!held.contains("Esketamine nasal spray: ELIGIBLE"), "held for a prescriber: {held}");
    assert_eq!(field_value(prescriber, "override-bp-elevated-reason").await, "", "no reason typed for them");
    screenshot(prescriber, "journey-eligibility-held.png").await;
    let record_override = |reason: &'static str| async move {
        type_into(prescriber, "#override-bp-elevated-reason", reason).await;
        click_button_and_wait_for(prescriber, "Override BP_ELEVATED", "saved=override#").await;
    };
    record_override("home readings reviewed; benefit outweighs risk").await;
    let decided = eligibility_of(prescriber, "Esketamine").await;
    assert!(decided.contains("Esketamine nasal spray: ELIGIBLE"), "{decided}");
    assert!(
        decided.contains("Overridden by you (demo.prescriber)") || decided.contains("Overridden by demo.prescriber")
    );

    // Withdrawn with a reason: the hold is back, and the withdrawal is in the amendments history.
    let overrides = text_of(prescriber, "eligibility-overrides").await;
    assert!(overrides.contains("Overrides in effect") && overrides.contains("benefit outweighs risk"), "{overrides}");
    assert_accessible(prescriber, "the overview with an override in effect").await;
    screenshot(prescriber, "journey-override.png").await;
    type_into(
        prescriber,
        "#eligibility-overrides input[id^='withdraw-'][name=reason]",
        "recorded before the repeat BP was taken",
    )
    .await;
    click_button_and_wait_for(prescriber, "Withdraw the override of BP_ELEVATED", "saved=override-withdrawn").await;
    let held = eligibility_of(prescriber, "Esketamine").await;
    assert!(!held.contains("Esketamine nasal spray: ELIGIBLE") && !held.contains("Overridden by"), "{held}");
    let amendments = text_of(prescriber, "amendments").await;
    assert!(amendments.contains("recorded before the repeat BP was taken"), "{amendments}");
    screenshot(prescriber, "journey-override-withdrawn.png").await;

    record_override("repeat seated BP 136/86 reviewed; benefit outweighs risk").await;
    let decided = eligibility_of(prescriber, "Esketamine").await;
    assert!(decided.contains("Esketamine nasal spray: ELIGIBLE") && decided.contains("136/86 reviewed"), "{decided}");
    Ok(())
}

/// The prescriber prescribes the esketamine plan, its first session at `first_session` (clinic-local),
/// and signs the 56 mg dose order for it, from the overview's forms.
async fn prescribe_the_plan_and_sign_the_order(prescriber: &Client, first_session: &str) -> Result<(), String> {
    click(prescriber, Locator::Css("#plan-form details summary")).await;
    click(prescriber, Locator::Css("#plan-template option[value=esketamine_trd]")).await;
    set_field(prescriber, "plan-first_session", first_session).await;
    click_button(prescriber, "Prescribe the plan").await;
    wait_for_path(prescriber, "saved=plan").await;
    let plans = text_of(prescriber, "plans").await;
    assert!(plans.contains("Esketamine: weeks 1–4 twice weekly") && plans.contains("(active)"), "{plans}");

    click(prescriber, Locator::Css("#orders details summary")).await;
    click(prescriber, Locator::Css("#order-modality option[value=esketamine]")).await;
    type_into(prescriber, "#order-dose_mg", "56").await;
    click(prescriber, Locator::Css("#order-plan_id option:nth-of-type(2)")).await;
    click_button(prescriber, "Sign the order").await;
    wait_for_path(prescriber, "saved=order").await;
    let orders = text_of(prescriber, "orders").await;
    assert!(orders.contains("56 mg (2 × 28 mg devices)") && orders.contains("active"), "{orders}");
    screenshot(prescriber, "journey-plan-and-order.png").await;
    Ok(())
}

/// The nurse, on the overview (reloaded: the order is new), starts the plan's first session with the
/// signed order; its dose time is the scheduled one.
async fn start_the_plans_first_session(nurse: &Client, patient_url: &str) -> Result<String, String> {
    nurse.goto(patient_url).await.unwrap();
    click(nurse, Locator::Css("#start-order_id option:nth-of-type(2)")).await;
    let slot = nurse.find(Locator::Css("#start-slot option:nth-of-type(2)")).await.map_err(|e| e.to_string())?;
    let slot_label = slot.text().await.unwrap();
    assert!(slot_label.starts_with("Esketamine") && slot_label.contains("session 1"), "{slot_label}");
    slot.click().await.unwrap();
    click_button(nurse, "Start the session").await;
    wait_for_path(nurse, "/sessions/").await;
    let url = nurse.current_url().await.unwrap();
    let heading = nurse.find(Locator::Css("h1")).await.unwrap().text().await.unwrap();
    assert!(heading.starts_with("Esketamine session") && heading.contains("Intake-Hopper"), "{heading}");
    Ok(format!("{}{}", url.origin().ascii_serialization(), url.path()))
}

/// The new patient has signed no consent yet: the session's gate holds on `INFORMED_CONSENT` and links to
/// the consents page, where the nurse records the signed esketamine consent (witnessed by the prescriber)
/// and goes back to the session, whose gate no longer holds on it.
async fn record_the_consent_the_gate_asks_for(nurse: &Client, session_url: &str) -> Result<(), String> {
    let gate = text_of(nurse, "gate").await;
    assert!(gate.contains("no informed consent to esketamine on file"), "{gate}");
    click(nurse, Locator::LinkText("Record the consent")).await;
    wait_for_path(nurse, "/consents").await;
    click(nurse, Locator::Css("#consent-form_id option[value=esketamine-treatment]")).await;
    set_field(nurse, "consent-witness_username", "demo.prescriber").await;
    click_button(nurse, "Record the consent").await;
    wait_for_path(nurse, "saved=recorded").await;
    screenshot(nurse, "journey-consent.png").await;
    let page = nurse.source().await.unwrap();
    assert!(page.contains("Current consent on file") && page.contains("demo.prescriber"), "{page}");
    assert_accessible(nurse, "the consents page").await;
    // A tablet held upright: the consent table and the record form still fit.
    let window = nurse.get_window_size().await.unwrap();
    nurse.set_window_size(768, 1024).await.unwrap();
    nurse.refresh().await.unwrap();
    screenshot(nurse, "journey-consent-768.png").await;
    nurse
        .set_window_size(u32::try_from(window.0).unwrap_or(1280), u32::try_from(window.1).unwrap_or(1000))
        .await
        .unwrap();
    nurse.goto(session_url).await.unwrap();
    let gate = text_of(nurse, "gate").await;
    assert!(gate.contains("current informed consent to esketamine on file"), "{gate}");
    Ok(())
}

/// The prescriber watches the session page on the second browser; the nurse's 205/122 (critical at or
/// above 200/120, clinical-reference §4.4) appears there within 2 s without a reload. The prescriber
/// acknowledges it with a note, and the nurse's page names who did.
async fn a_critical_blood_pressure_seen_on_the_second_browser(
    nurse: &Client,
    prescriber: &Client,
    session_url: &str,
    now: &str,
) -> Result<(), String> {
    prescriber.goto(session_url).await.unwrap();
    wait_for_live_feed(prescriber).await;
    mark_page(prescriber).await;
    nurse.goto(session_url).await.unwrap();
    set_field(nurse, "at", &minutes_before(now, 120)).await;
    nurse.find(Locator::Id("systolic")).await.unwrap().send_keys(&format!("205\t122\t96{ENTER}")).await.unwrap();
    let took = text_appears_within(prescriber, "alerts", "BP 205/122 mmHg", Duration::from_secs(2)).await?;
    let alerts = text_of(prescriber, "alerts").await;
    assert!(alerts.contains("CRITICAL"), "the prescriber sees the alert as critical: {alerts}");
    assert!(page_was_not_reloaded(prescriber).await, "the session page updated without a reload");
    println!("the new patient's critical alert reached the second browser in {took:?}");
    screenshot(prescriber, "journey-critical-alert-second-browser.png").await;

    type_into(prescriber, "#alerts input[name=note]", "seen; repeat in 5 min, infusion not running").await;
    click(
        prescriber,
        Locator::XPath("//section[@id='alerts']//button[starts-with(normalize-space(.), 'Acknowledge')]"),
    )
    .await;
    // The acknowledgement answers with the session page at the alert (`#alert-…`): stored by then.
    wait_for_path(prescriber, "#alert-").await;
    nurse.goto(session_url).await.unwrap();
    let alerts = text_of(nurse, "alerts").await;
    assert!(alerts.contains("acknowledged by demo.prescriber") && alerts.contains("repeat in 5 min"), "{alerts}");
    Ok(())
}

/// Entry 3 (132/80, 138 minutes ago) was taken while the patient coughed: marked entered in error with a
/// reason, its values come back in the form, and the right systolic is entered in its place.
async fn correct_an_entry_entered_in_error(nurse: &Client, session_url: &str) -> Result<(), String> {
    nurse.goto(session_url).await.unwrap();
    click(nurse, Locator::Css("#entry-3 details summary")).await;
    type_into(nurse, "#reason-3", "BP taken while the patient coughed").await;
    click_button(nurse, "Mark entry 3 entered in error").await;
    wait_for_path(nurse, "reenter=3").await;
    assert_eq!(field_value(nurse, "systolic").await, "132");
    assert!(field_value(nurse, "late_entry_reason").await.starts_with("replaces entry 3"));
    let systolic = nurse.find(Locator::Id("systolic")).await.unwrap();
    systolic.clear().await.unwrap();
    systolic.send_keys(&format!("124{ENTER}")).await.unwrap();
    wait_for_path(nurse, "saved=").await;
    let entries = text_of(nurse, "entries").await;
    assert!(entries.contains("124/80") && entries.contains("ENTERED IN ERROR"), "{entries}");
    screenshot(nurse, "journey-correction.png").await;
    Ok(())
}

/// Discharged, the session's REMS form is due: the nurse follows the worklist's "REMS forms due" item,
/// which opens the form itself, completes what is missing and submits it.
async fn submit_the_rems_form_from_the_worklist(
    nurse: &Client,
    base_url: &str,
    session_url: &str,
) -> Result<(), String> {
    nurse.goto(&format!("{base_url}/worklist")).await.unwrap();
    let due = "//section[.//h2[@id='rems-title']]//a[contains(normalize-space(.), 'Intake-Hopper')]";
    let link = nurse.find(Locator::XPath(due)).await.map_err(|e| format!("the REMS form is due: {e}"))?;
    assert_eq!(
        link.attr("href").await.unwrap().unwrap_or_default(),
        session_url.replacen(base_url, "", 1) + "/rems-form"
    );
    link.click().await.unwrap();
    wait_for_path(nurse, "/rems-form").await;
    let preview = text_of(nurse, "preview").await;
    println!("the REMS form of the new patient's session: {preview}");
    // A first patient's first form: the patient's details come from the record, the rest is typed.
    for (id, value) in [
        ("rems-patient-first-treatment", "yes"),
        ("rems-patient-enrolled", "yes"),
        ("rems-medication-benzodiazepines", "no"),
        ("rems-medication-non-benzodiazepine-sedative-hypnotics", "no"),
        ("rems-medication-psychostimulants", "no"),
        ("rems-medication-maois", "no"),
    ] {
        click(nurse, Locator::Css(&format!("#{id} option[value='{value}']"))).await;
    }
    for (id, text) in [
        ("rems-monitoring-hcp-name", "N. Nurse"),
        ("rems-monitoring-hcp-phone", "555-0100"),
        ("rems-monitoring-hcp-email", "nurse@clinic.example"),
        ("rems-setting-name", "Demo Clinic"),
        ("rems-setting-address", "1 Clinic Road"),
        ("rems-serious-adverse-events", "none"),
    ] {
        type_into(nurse, &format!("#{id}"), text).await;
    }
    // The session is discharged: what is added to its record now says why.
    type_into(nurse, "#rems-details-reason", "REMS form completed after discharge").await;
    click_button(nurse, "Save the details").await;
    wait_for_path(nurse, "saved=details").await;
    let preview = text_of(nurse, "preview").await;
    assert!(
        preview.contains("COMPLETE") && preview.contains("E2E-JOURNEY-1") && !preview.contains("MISSING"),
        "{preview}"
    );
    click_button(nurse, "Submit the REMS form").await;
    wait_for_path(nurse, "saved=submitted").await;
    let summary = text_of(nurse, "rems-summary").await;
    assert!(summary.contains("SUBMITTED"), "{summary}");
    Ok(())
}

/// The prescriber, on the session page (reloaded: the discharge is new), signs and locks the session.
async fn sign_off(prescriber: &Client, session_url: &str) -> Result<(), String> {
    prescriber.goto(session_url).await.unwrap();
    click_button(prescriber, "Sign and lock the session").await;
    prescriber
        .wait()
        .for_element(Locator::XPath("//dt[normalize-space(.)='Signed and locked']"))
        .await
        .map_err(|e| e.to_string())?;
    let discharge = text_of(prescriber, "discharge").await;
    assert!(discharge.contains("by demo.nurse") && discharge.contains("by you (demo.prescriber)"), "{discharge}");
    let summary = text_of(prescriber, "session-summary").await;
    assert!(summary.contains("locked"), "{summary}");
    assert!(prescriber.find(Locator::Id("entry")).await.is_err(), "a locked session takes no more entries");
    prescriber.set_window_size(1280, 2400).await.unwrap();
    screenshot(prescriber, "journey-signed.png").await;
    prescriber.set_window_size(1280, 1000).await.unwrap();
    Ok(())
}

/// What the chart shows afterwards: the printable session record (the dose and lot, the critical alert
/// and its acknowledgement, the entry in error, discharge and sign-off, each with who), laid out for
/// print; the overview (the override by name, the plan's session given, the session locked); the summary
/// for prior authorisation (the override by name).
async fn the_chart_shows_it_all(
    prescriber: &Client,
    webdriver: &str,
    patient_url: &str,
    session_url: &str,
) -> Result<(), String> {
    prescriber.goto(session_url).await.unwrap();
    click(prescriber, Locator::LinkText("Printable session record")).await;
    wait_for_path(prescriber, "/record").await;
    let record = text_of(prescriber, "main").await;
    for text in [
        "lot E2E-JOURNEY-1",
        "BP 205/122 mmHg",
        "CRITICAL",
        "acknowledged by demo.prescriber",
        "ENTERED IN ERROR",
        "124/80",
        "by demo.nurse",
        "Signed and locked",
        "by demo.prescriber",
        "REMS Patient Monitoring Form: submitted",
    ] {
        assert!(record.contains(text), "{text} on the printable record: {record}");
    }
    assert!(!record.contains("by user ") && !record.contains("by you"), "people named, not ids: {record}");
    print_preview(prescriber, webdriver, "journey-session-record-print.png").await;

    prescriber.goto(patient_url).await.unwrap();
    let decided = eligibility_of(prescriber, "Esketamine").await;
    assert!(
        decided.contains("Overridden by you (demo.prescriber)") || decided.contains("Overridden by demo.prescriber")
    );
    let sessions = text_of(prescriber, "sessions").await;
    assert!(sessions.contains("Esketamine nasal spray") && sessions.contains("locked"), "{sessions}");
    let plans = text_of(prescriber, "plans").await;
    assert!(plans.contains("Session 1"), "the plan's first session links to the session given: {plans}");
    prescriber.set_window_size(1280, 2400).await.unwrap();
    screenshot(prescriber, "journey-overview.png").await;
    prescriber.set_window_size(1280, 1000).await.unwrap();

    click(
        prescriber,
        Locator::Css(&format!(
            "a[href='{}/summary']",
            patient_url.splitn(4, '/').nth(3).map(|path| format!("/{path}")).unwrap_or_default()
        )),
    )
    .await;
    wait_for_path(prescriber, "/summary").await;
    let summary = text_of(prescriber, "main").await;
    assert!(summary.contains("overridden by demo.prescriber: repeat seated BP 136/86 reviewed"), "{summary}");
    assert!(summary.contains("F33.2") && summary.contains("BP_ELEVATED"), "{summary}");
    print_preview(prescriber, webdriver, "journey-summary-print.png").await;
    Ok(())
}

/// A nurse takes a new patient in through the intake's screens: the demographics (one field refused and
/// corrected, the names typed kept), the task list, the episode, two failed adequate trials with the
/// knowledge base's names suggested, height and weight, the screening blood pressure given; the task list
/// then shows every needed step done and TRD met, and so does the overview. A trial corrected with a
/// reason appears in the overview's amendments history. axe-core checks every intake page; screenshots
/// go to `target/e2e-screenshots/intake-*.png`. Ends on the new patient's overview.
async fn intake_in_the_browser(
    browser: &Client,
    base_url: &str,
    one_time_password: &str,
    screening_blood_pressure: (&str, &str),
) -> Result<(), String> {
    sign_in_with_one_time_password(browser, base_url, "demo.nurse", one_time_password, "a nurse's own password")
        .await?;
    browser.set_window_size(1280, 1600).await.unwrap();
    click(browser, Locator::Css("nav a[href='/patients']")).await;
    wait_for_path(browser, "/patients").await;
    click(browser, Locator::Css("main a[href='/patients/new']")).await;
    wait_for_path(browser, "/patients/new").await;
    assert_accessible(browser, "the new-patient form").await;
    screenshot(browser, "intake-new-patient.png").await;

    // The sex at birth forgotten: refused beside its field, the names typed kept; then corrected.
    type_into(browser, "#given_name", "Grace").await;
    type_into(browser, "#family_name", "Intake-Hopper").await;
    set_date(browser, "birth_date", "1979-06-15").await;
    type_into(browser, "#mrn", "E2E-INTAKE-1").await;
    submit_and_wait_for(browser, "/patients/new").await;
    let summary = browser.find(Locator::Css(".error-summary")).await.unwrap().text().await.unwrap();
    assert!(summary.contains("Sex at birth"), "the refusal names the field: {summary}");
    let kept = browser.find(Locator::Id("family_name")).await.unwrap().prop("value").await.unwrap();
    assert_eq!(kept.as_deref(), Some("Intake-Hopper"), "what was typed is kept");
    assert!(browser.find(Locator::Id("sex_at_birth-error")).await.is_ok(), "the error is under the field");
    assert_accessible(browser, "the new-patient form with an error").await;
    screenshot(browser, "intake-new-patient-error.png").await;
    click(browser, Locator::Id("sex_at_birth-1")).await;
    submit_and_wait_for(browser, "/intake?saved=patient").await;
    let task_list_url = browser.current_url().await.unwrap().to_string().replace("?saved=patient", "");
    assert_eq!(task_status(browser, "episodes").await, "To do");
    assert_eq!(task_status(browser, "trials").await, "Cannot start yet");
    assert_accessible(browser, "the intake task list").await;
    screenshot(browser, "intake-task-list.png").await;

    // The current episode.
    click(browser, Locator::Css("a[href$='/intake/episodes']")).await;
    wait_for_path(browser, "/intake/episodes").await;
    type_into(browser, "#diagnosis", "F33.2").await;
    set_date(browser, "onset_date", "2026-01-28").await;
    click(browser, Locator::Id("severity-3")).await;
    click(browser, Locator::Id("psychotic_features-2")).await;
    assert_accessible(browser, "the episode step").await;
    screenshot(browser, "intake-episode.png").await;
    submit_and_wait_for(browser, "saved=episodes").await;
    assert_eq!(task_status(browser, "episodes").await, "Done");

    // Two failed adequate trials; the drug field suggests the knowledge base's names.
    click(browser, Locator::Css("a[href$='/intake/trials']")).await;
    wait_for_path(browser, "/intake/trials").await;
    let suggestions =
        browser.execute("return document.querySelectorAll('#drug-names option').length;", Vec::new()).await.unwrap();
    assert!(suggestions.as_u64().unwrap_or(0) > 60, "the drug names offered: {suggestions}");
    for (drug, dose, weeks, improvement) in [("Zoloft", "150", "8", "15"), ("venlafaxine XR", "225", "10", "20")] {
        type_into(browser, "#drug", drug).await;
        type_into(browser, "#daily_dose_mg", dose).await;
        type_into(browser, "#weeks", weeks).await;
        type_into(browser, "#improvement_pct", improvement).await;
        click(browser, Locator::Id("adherence-1")).await;
        submit_and_wait_for(browser, "/intake/trials?saved=1").await;
    }
    let recorded = browser.find(Locator::Id("recorded-title")).await.unwrap();
    assert!(recorded.text().await.unwrap().contains("Recorded"));
    assert_accessible(browser, "the trials step").await;
    screenshot(browser, "intake-trials.png").await;

    // Height and weight (dated today by default), then a seated blood pressure.
    browser.goto(&format!("{task_list_url}/measurements")).await.unwrap();
    type_into(browser, "#height_cm", "168").await;
    type_into(browser, "#weight_kg", "64").await;
    click(browser, Locator::Id("pregnant-2")).await;
    click(browser, Locator::Id("breastfeeding-2")).await;
    assert_accessible(browser, "the measurements step").await;
    submit_and_wait_for(browser, "saved=measurements").await;
    click(browser, Locator::Css("a[href$='/intake/blood_pressures']")).await;
    wait_for_path(browser, "/intake/blood_pressures").await;
    type_into(browser, "#systolic", screening_blood_pressure.0).await;
    type_into(browser, "#diastolic", screening_blood_pressure.1).await;
    assert_accessible(browser, "the blood pressure step").await;
    submit_and_wait_for(browser, "/intake/blood_pressures?saved=1").await;

    // The task list: each needed step done, and TRD met under both definitions.
    browser.goto(&task_list_url).await.unwrap();
    for step in ["episodes", "trials", "measurements", "blood_pressures"] {
        assert_eq!(task_status(browser, step).await, "Done", "{step}");
    }
    let decided = browser.find(Locator::Id("decisions-so-far-title")).await.unwrap();
    let decisions = decided.find(Locator::XPath("..")).await.unwrap().text().await.unwrap();
    assert!(
        decisions.contains("TRD, label definition\nMET") || decisions.contains("TRD, label definition MET"),
        "{decisions}"
    );
    assert_accessible(browser, "the intake task list, the chart entered").await;
    screenshot(browser, "intake-task-list-done.png").await;

    // A trial corrected with a reason: the overview's amendments history shows it, old → new.
    browser.goto(&format!("{task_list_url}/trials")).await.unwrap();
    click(
        browser,
        Locator::XPath("//tr[.//dd[normalize-space(.)='Zoloft']]//a[starts-with(normalize-space(.), 'Correct')]"),
    )
    .await;
    browser.wait().for_element(Locator::Id("reason")).await.unwrap();
    let weeks = browser.find(Locator::Id("weeks")).await.unwrap();
    weeks.clear().await.unwrap();
    weeks.send_keys("9").await.unwrap();
    type_into(browser, "#reason", "weeks misread from the referral letter").await;
    assert_accessible(browser, "the correction form").await;
    screenshot(browser, "intake-correction.png").await;
    submit_and_wait_for(browser, "saved=corrected").await;
    click(browser, Locator::Css(".breadcrumb a:nth-of-type(2)")).await;
    browser.wait().for_element(Locator::Id("decisions-title")).await.unwrap();
    let overview = browser.find(Locator::Id("decisions-title")).await.unwrap();
    let decisions = overview.find(Locator::XPath("..")).await.unwrap().text().await.unwrap();
    assert!(decisions.contains("MET"), "the overview shows the TRD decision: {decisions}");
    let amendments = browser.find(Locator::Id("amendments")).await.unwrap();
    let history = amendments.text().await.unwrap();
    assert!(history.contains("weeks: 8 → 9") && history.contains("referral letter"), "{history}");
    assert_accessible(browser, "the patient overview after intake").await;
    screenshot(browser, "intake-overview.png").await;
    let png = amendments.screenshot().await.expect("screenshot the amendments history");
    std::fs::write(screenshot_dir().join("intake-amendments.png"), png).expect("save the screenshot");
    Ok(())
}

/// The value of the input or select with this id.
async fn field_value(browser: &Client, id: &str) -> String {
    let value = browser
        .execute("return document.getElementById(arguments[0]).value;", vec![json!(id)])
        .await
        .unwrap_or_else(|error| panic!("read #{id}: {error}"));
    value.as_str().unwrap_or_default().to_owned()
}

/// Sets a field as a person would (the page's script then leaves a time it was told to keep alone).
async fn set_field(browser: &Client, id: &str, value: &str) {
    let script = "const field = document.getElementById(arguments[0]); field.value = arguments[1]; \
                  field.dispatchEvent(new Event('input', { bubbles: true })); return field.value;";
    let set = browser.execute(script, vec![json!(id), json!(value)]).await.unwrap();
    assert_eq!(set, json!(value), "#{id} took the value");
}

async fn click_button(browser: &Client, words: &str) {
    let xpath = format!("//button[normalize-space(.)='{words}']");
    browser
        .find(Locator::XPath(&xpath))
        .await
        .unwrap_or_else(|_| panic!("a button saying {words}"))
        .click()
        .await
        .unwrap();
}

async fn text_of(browser: &Client, id: &str) -> String {
    browser.find(Locator::Id(id)).await.unwrap_or_else(|_| panic!("#{id}")).text().await.unwrap()
}

/// A clinic-local minute `minutes` before `now` (`YYYY-MM-DDTHH:MM`, as the forms take it).
fn minutes_before(now: &str, minutes: i64) -> String {
    let now: jiff::civil::DateTime = now.parse().expect("a clinic-local time");
    now.checked_sub(jiff::Span::new().minutes(minutes)).unwrap().strftime("%Y-%m-%dT%H:%M").to_string()
}

/// Chromium's print emulation through chromedriver's DevTools endpoint (`goog/cdp/execute`), over plain
/// HTTP: `print` lays the page out with its print stylesheet, `""` goes back to the screen.
fn emulate_media(webdriver: &str, session_id: &str, media: &str) {
    use std::io::{Read as _, Write as _};
    let address = webdriver.trim_start_matches("http://").trim_end_matches('/');
    let body = json!({ "cmd": "Emulation.setEmulatedMedia", "params": { "media": media } }).to_string();
    let request = format!(
        "POST /session/{session_id}/goog/cdp/execute HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = std::net::TcpStream::connect(address).expect("connect to chromedriver");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    // chromedriver keeps the connection open: read the head, then as many bytes as it says the body has.
    let mut answer = Vec::new();
    let mut chunk = [0_u8; 1024];
    loop {
        let read = stream.read(&mut chunk).expect("chromedriver answers");
        answer.extend_from_slice(&chunk[..read]);
        let text = String::from_utf8_lossy(&answer).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|line| {
                    line.to_ascii_lowercase().strip_prefix("content-length:").map(|n| n.trim().parse::<usize>())
                })
                .and_then(Result::ok)
                .unwrap_or(0);
            if body.len() >= length {
                assert!(head.starts_with("HTTP/1.1 200"), "print emulation: {text}");
                return;
            }
        }
        assert!(read > 0, "chromedriver closed the connection: {text}");
    }
}

/// Lays the page out for print at the text width of an A4 page between 12 mm margins (186 mm, 703 CSS
/// px; US Letter's is wider), checks nothing is wider than that, and saves a screenshot of it.
async fn print_preview(browser: &Client, webdriver: &str, name: &str) {
    let session_id = browser.session_id().await.unwrap().expect("a WebDriver session");
    emulate_media(webdriver, &session_id, "print");
    browser.set_window_size(703, 1000).await.unwrap();
    let layout = browser
        .execute(
            "const viewport = document.documentElement.clientWidth; \
             const wide = Array.from(document.querySelectorAll('main *')) \
               .filter((element) => element.getBoundingClientRect().right > viewport + 0.5) \
               .slice(0, 5).map((element) => element.tagName + '.' + element.className + ' ' + element.textContent.slice(0, 40)); \
             return { print: window.matchMedia('print').matches, width: document.documentElement.scrollWidth, viewport, wide, \
               header: getComputedStyle(document.querySelector('.site-header')).display };",
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(layout["print"], json!(true), "the print stylesheet applies: {layout}");
    assert_eq!(layout["header"], json!("none"), "no navigation in print: {layout}");
    assert!(layout["width"].as_u64() <= layout["viewport"].as_u64(), "{name} fits the page's width: {layout}");
    let height = browser.execute("return document.documentElement.scrollHeight;", Vec::new()).await.unwrap();
    browser.set_window_size(703, u32::try_from(height.as_u64().unwrap_or(1000).min(6000)).unwrap()).await.unwrap();
    screenshot(browser, name).await;
    emulate_media(webdriver, &session_id, "");
    browser.set_window_size(1280, 1000).await.unwrap();
}

/// A nurse, on the demo's esketamine session in progress, gives the dose with a lot number (the server
/// refuses a second dose over the limit, and the page shows it with the lot kept), corrects the dose
/// recorded with the wrong lot and an entry, and sees the REMS form's preview with its missing fields;
/// then, through the pages alone, runs a session started three hours ago to discharge and submits its
/// REMS form once complete; the printable record and the prior-authorisation summary print without
/// navigation at an A4 page's width. axe-core checks each new page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nurse_gives_the_dose_corrects_an_entry_and_submits_the_rems_form_in_a_real_browser() {
    let Ok(webdriver) = std::env::var(WEBDRIVER_VARIABLE) else {
        println!("skipped: set {WEBDRIVER_VARIABLE} to a chromedriver URL (e.g. http://127.0.0.1:9515) to run it");
        return;
    };
    let directory = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}", directory.path().join("demo.db").display());
    let demo = start_demo(&database_url);
    let nurse_password = reset_password(&database_url, "demo.nurse");
    let nurse = browser(&webdriver).await;
    let outcome = nurse_session_pages(&nurse, &webdriver, &demo.base_url, &nurse_password).await;
    let _ = nurse.close().await;
    outcome.expect("the nurse's dose, corrections and REMS form in the browser");
}

async fn nurse_session_pages(browser: &Client, webdriver: &str, base_url: &str, password: &str) -> Result<(), String> {
    sign_in_with_one_time_password(browser, base_url, "demo.nurse", password, "a nurse's own password").await?;
    browser
        .find(Locator::XPath("//a[starts-with(normalize-space(.), 'Open session')]"))
        .await
        .map_err(|e| e.to_string())?
        .click()
        .await
        .unwrap();
    wait_for_path(browser, "/sessions/").await;
    let session_url = browser.current_url().await.unwrap().to_string();

    // The dose form comes filled from the signed order, folded away since the demo already gave 56 mg.
    // A second 56 mg is over the limit, and the server's refusal is shown with the lot typed kept.
    browser.find(Locator::Css("#give-dose details summary")).await.unwrap().click().await.unwrap();
    assert_eq!(field_value(browser, "dose-dose_mg").await, "56");
    assert_eq!(field_value(browser, "dose-device_count").await, "2");
    type_into(browser, "#dose-lot_number", "E2E-LOT-7").await;
    click_button(browser, "Record the dose given").await;
    browser.wait().for_element(Locator::Id("give-dose-error-title")).await.map_err(|e| e.to_string())?;
    let refusal = text_of(browser, "give-dose").await;
    assert!(refusal.contains("The dose was not recorded") && refusal.contains("ESKETAMINE_MAX_MG"), "{refusal}");
    assert_eq!(field_value(browser, "dose-lot_number").await, "E2E-LOT-7", "the lot typed is kept");
    screenshot(browser, "session-dose-refused.png").await;

    // The dose on record has the wrong lot: it is marked entered in error with a reason, and the form
    // comes back filled with it; the right lot is typed and the dose recorded again.
    browser.goto(&session_url).await.unwrap();
    browser.find(Locator::Css("#dose details summary")).await.unwrap().click().await.unwrap();
    browser
        .find(Locator::Css("#dose input[name=reason]"))
        .await
        .unwrap()
        .send_keys("lot misread from the box")
        .await
        .unwrap();
    click_button(browser, "Mark this dose entered in error").await;
    wait_for_path(browser, "reenter_dose=").await;
    assert_eq!(field_value(browser, "dose-lot_number").await, "DEMO-ESK-0001");
    let lot = browser.find(Locator::Id("dose-lot_number")).await.unwrap();
    lot.clear().await.unwrap();
    lot.send_keys("E2E-LOT-7").await.unwrap();
    click_button(browser, "Record the dose given").await;
    wait_for_path(browser, "done=dose").await;
    let dose = text_of(browser, "dose").await;
    assert!(dose.contains("lot E2E-LOT-7") && dose.contains("ENTERED IN ERROR"), "{dose}");
    screenshot(browser, "session-dose.png").await;
    assert_accessible(browser, "the session page with its dose form").await;

    // An entry is corrected: the blood pressure of entry 5 was taken while the patient moved.
    browser.find(Locator::Css("#entry-5 details summary")).await.unwrap().click().await.unwrap();
    type_into(browser, "#reason-5", "BP taken while the patient moved").await;
    click_button(browser, "Mark entry 5 entered in error").await;
    wait_for_path(browser, "reenter=5").await;
    assert_eq!(field_value(browser, "systolic").await, "162");
    assert!(field_value(browser, "late_entry_reason").await.starts_with("replaces entry 5"));
    let systolic = browser.find(Locator::Id("systolic")).await.unwrap();
    systolic.clear().await.unwrap();
    systolic.send_keys(&format!("142{ENTER}")).await.unwrap();
    wait_for_path(browser, "saved=").await;
    let entries = text_of(browser, "entries").await;
    assert!(entries.contains("142/92") && entries.contains("ENTERED IN ERROR"), "{entries}");
    screenshot(browser, "session-correction.png").await;

    // The REMS form of the session in progress: what is missing, each with where to enter it; Submit
    // waits until it is complete.
    browser.find(Locator::LinkText("REMS Patient Monitoring Form")).await.unwrap().click().await.unwrap();
    wait_for_path(browser, "/rems-form").await;
    let preview = text_of(browser, "preview").await;
    assert!(preview.contains("MISSING") && preview.contains("monitoring_hcp.email"), "{preview}");
    let disabled = browser.find(Locator::XPath("//button[normalize-space(.)='Submit the REMS form']")).await.unwrap();
    assert_eq!(disabled.attr("disabled").await.unwrap().as_deref(), Some("true"), "Submit waits for a complete form");
    browser.set_window_size(1280, 2400).await.unwrap();
    screenshot(browser, "session-rems-preview.png").await;
    browser.set_window_size(1280, 1000).await.unwrap();
    assert_accessible(browser, "the REMS form preview").await;

    submit_a_rems_form_through_the_pages(browser, webdriver, &session_url).await
}

/// A session of the same patient, started three hours ago from the overview, run through the pages to
/// discharge; its REMS form filled in (proposed from the patient's record and the last form) and
/// submitted. Then its printable record and the patient's summary, laid out for print.
async fn submit_a_rems_form_through_the_pages(
    browser: &Client,
    webdriver: &str,
    session_url: &str,
) -> Result<(), String> {
    browser.goto(session_url).await.unwrap();
    let now = field_value(browser, "at").await;
    let at = |minutes: i64| minutes_before(&now, minutes);
    browser.find(Locator::Css(".breadcrumb a:nth-of-type(2)")).await.unwrap().click().await.unwrap();
    browser.wait().for_element(Locator::Id("start-session")).await.map_err(|e| e.to_string())?;
    let patient_url = browser.current_url().await.unwrap().to_string();
    browser.find(Locator::Css("#start-order_id option:nth-of-type(2)")).await.unwrap().click().await.unwrap();
    set_field(browser, "start-planned_at", &at(180)).await;
    click_button(browser, "Start the session").await;
    wait_for_path(browser, "/sessions/").await;
    let new_session = browser.current_url().await.unwrap();
    let new_session = format!("{}{}", new_session.origin().ascii_serialization(), new_session.path());
    assert_ne!(new_session, session_url, "a new session");

    chart_the_pre_dose_facts_and_give_the_dose(browser, &new_session, &now, "E2E-LOT-8").await;
    for (minutes, keys) in [(138, "132\t80\t74\t98\t14\t5\t0"), (60, "126\t78\t70\t98\t14\t5\t0")] {
        enter_a_row_of_vital_signs(browser, &new_session, &at(minutes), keys).await;
    }
    // The REMS form while the patient is monitored: its details proposed from the patient's record and
    // the last form, checked, completed and saved; the monitoring time is still missing.
    browser.goto(&format!("{new_session}/rems-form")).await.unwrap();
    let details = text_of(browser, "rems-details").await;
    assert!(details.contains("Filled in from the patient's record and the REMS form of the session"), "{details}");
    browser
        .find(Locator::Css("#rems-patient-first-treatment option[value='no']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    type_into(browser, "#rems-monitoring-hcp-email", "nurse@clinic.example").await;
    type_into(browser, "#rems-serious-adverse-events", "none").await;
    click_button(browser, "Save the details").await;
    wait_for_path(browser, "saved=details").await;
    let preview = text_of(browser, "preview").await;
    assert!(preview.contains("MISSING") && preview.contains("session.duration_min"), "{preview}");

    // Discharge: the escort, then the button; monitoring ends now.
    discharge_through_the_pages(browser, &new_session).await?;

    // Complete now: submitted.
    browser.goto(&format!("{new_session}/rems-form")).await.unwrap();
    let preview = text_of(browser, "preview").await;
    assert!(preview.contains("COMPLETE") && preview.contains("E2E-LOT-8") && !preview.contains("MISSING"), "{preview}");
    assert_accessible(browser, "the complete REMS form").await;
    click_button(browser, "Submit the REMS form").await;
    wait_for_path(browser, "saved=submitted").await;
    let summary = text_of(browser, "rems-summary").await;
    assert!(summary.contains("SUBMITTED"), "{summary}");
    browser.set_window_size(1280, 2400).await.unwrap();
    screenshot(browser, "session-rems-submitted.png").await;
    browser.set_window_size(1280, 1000).await.unwrap();
    print_preview(browser, webdriver, "session-rems-print.png").await;

    // The printable session record and the summary for prior authorisation.
    browser.goto(&format!("{new_session}/record")).await.unwrap();
    let record = text_of(browser, "main").await;
    assert!(record.contains("E2E-LOT-8") && record.contains("Discharged") && record.contains("submitted"), "{record}");
    assert_accessible(browser, "the printable session record").await;
    print_preview(browser, webdriver, "session-record-print.png").await;
    browser.goto(&format!("{patient_url}/summary")).await.unwrap();
    let summary = text_of(browser, "main").await;
    for text in
        ["F33.2", "duloxetine", "60 mg/day", "8 weeks", "Maudsley staging", "MADRS", "Rules version", "ketacare-rules/"]
    {
        assert!(summary.contains(text), "{text} on the summary: {summary}");
    }
    assert_accessible(browser, "the summary for prior authorisation").await;
    browser.set_window_size(1280, 2400).await.unwrap();
    screenshot(browser, "summary.png").await;
    print_preview(browser, webdriver, "summary-print.png").await;
    Ok(())
}

/// The nurse's first steps in a session whose dose is planned three hours ago (`now` is the session page's
/// clinic-local minute): the pre-dose checks (PHQ-9 item 9, pregnancy, escort, REMS enrolment, fasting),
/// two pre-dose readings 6 minutes apart (the row typed as a nurse would: Tab between the values, Enter
/// saves), and the dose from the signed order with its lot, 178 minutes ago.
async fn chart_the_pre_dose_facts_and_give_the_dose(browser: &Client, session_url: &str, now: &str, lot: &str) {
    let at = |minutes: i64| minutes_before(now, minutes);
    browser.goto(session_url).await.unwrap();
    // The pre-dose checks, recorded in the session.
    browser.find(Locator::Css("#pre-dose summary")).await.unwrap().click().await.unwrap();
    for (id, value) in [
        ("pre-dose-phq9-item9", "0"),
        ("pre-dose-can-become-pregnant", "no"),
        ("pre-dose-escort-arranged", "yes"),
        ("pre-dose-rems-patient-enrolled", "yes"),
    ] {
        browser.find(Locator::Css(&format!("#{id} option[value='{value}']"))).await.unwrap().click().await.unwrap();
    }
    set_field(browser, "pre-dose-last-food-at", &at(480)).await;
    set_field(browser, "pre-dose-last-liquid-at", &at(360)).await;
    click_button(browser, "Save the pre-dose checks").await;
    wait_for_path(browser, "done=pre-dose").await;

    // Two pre-dose readings, then the dose with its lot.
    let readings = [(185, "130\t80\t72\t98\t14\t5\t0"), (179, "128\t78\t70\t98\t14\t5\t0")];
    for (minutes, keys) in readings {
        enter_a_row_of_vital_signs(browser, session_url, &at(minutes), keys).await;
    }
    set_field(browser, "dose-started_at", &at(178)).await;
    type_into(browser, "#dose-lot_number", lot).await;
    click_button(browser, "Record the dose given").await;
    wait_for_path(browser, "done=dose").await;
}

/// One row of vital signs at a clinic-local time, typed into the session page's entry form (Tab between
/// the values, Enter saves); waits for the saved page.
async fn enter_a_row_of_vital_signs(browser: &Client, session_url: &str, at: &str, keys: &str) {
    browser.goto(session_url).await.unwrap();
    set_field(browser, "at", at).await;
    browser.find(Locator::Id("systolic")).await.unwrap().send_keys(&format!("{keys}{ENTER}")).await.unwrap();
    wait_for_path(browser, "saved=").await;
}

/// Discharge through the session page: the escort recorded in the discharge assessment, readiness shown
/// as READY, then the button; the page then says when and by whom the patient was discharged.
async fn discharge_through_the_pages(browser: &Client, session_url: &str) -> Result<(), String> {
    browser.goto(session_url).await.unwrap();
    browser.find(Locator::Css("#discharge-assessment summary")).await.unwrap().click().await.unwrap();
    browser.find(Locator::Css("#discharge-escort-present option[value='yes']")).await.unwrap().click().await.unwrap();
    click_button(browser, "Save the discharge assessment").await;
    wait_for_path(browser, "done=discharge-assessment").await;
    let discharge = text_of(browser, "discharge").await;
    assert!(discharge.contains("Discharge: READY"), "{discharge}");
    click_button(browser, "Discharge the patient").await;
    browser
        .wait()
        .for_element(Locator::XPath("//dt[normalize-space(.)='Discharged']"))
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// The nurse writes, edits and signs the session note of a session run to discharge through the pages; the
/// prescriber, on a second browser, finds it on the worklist's "Notes awaiting co-signature" and co-signs
/// it. Then every printable page prints: the session record (with the signed note and both signatures),
/// the after-care sheet (the clinic's phone from `--clinic-phone`), the REMS form, the summary for prior
/// authorisation and the note page, each laid out with print media emulated and saved as `print-*.png`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nurse_signs_the_session_note_the_prescriber_cosigns_and_every_record_prints() {
    let Ok(webdriver) = std::env::var(WEBDRIVER_VARIABLE) else {
        println!("skipped: set {WEBDRIVER_VARIABLE} to a chromedriver URL (e.g. http://127.0.0.1:9515) to run it");
        return;
    };
    let directory = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}", directory.path().join("demo.db").display());
    let demo = start_demo_with(&database_url, &["--clinic-phone", "+1 555 0100"]);
    let passwords = (reset_password(&database_url, "demo.nurse"), reset_password(&database_url, "demo.prescriber"));
    let nurse = browser(&webdriver).await;
    let prescriber = browser(&webdriver).await;
    let outcome = notes_and_printing(&nurse, &prescriber, &webdriver, &demo.base_url, &passwords).await;
    let _ = nurse.close().await;
    let _ = prescriber.close().await;
    outcome.expect("the signed and co-signed note, and the printable records, in the browser");
}

async fn notes_and_printing(
    nurse: &Client,
    prescriber: &Client,
    webdriver: &str,
    base_url: &str,
    passwords: &(String, String),
) -> Result<(), String> {
    sign_in_with_one_time_password(nurse, base_url, "demo.nurse", &passwords.0, "a nurse's own password").await?;
    nurse
        .find(Locator::XPath("//a[starts-with(normalize-space(.), 'Open session')]"))
        .await
        .map_err(|e| e.to_string())?
        .click()
        .await
        .unwrap();
    wait_for_path(nurse, "/sessions/").await;
    let now = field_value(nurse, "at").await;
    // A session of the same patient, its dose three hours ago, run through the pages to discharge.
    nurse.find(Locator::Css(".breadcrumb a:nth-of-type(2)")).await.unwrap().click().await.unwrap();
    nurse.wait().for_element(Locator::Id("start-session")).await.map_err(|e| e.to_string())?;
    let patient_url = nurse.current_url().await.unwrap().to_string();
    nurse.find(Locator::Css("#start-order_id option:nth-of-type(2)")).await.unwrap().click().await.unwrap();
    set_field(nurse, "start-planned_at", &minutes_before(&now, 180)).await;
    click_button(nurse, "Start the session").await;
    wait_for_path(nurse, "/sessions/").await;
    let session = nurse.current_url().await.unwrap();
    let session_url = format!("{}{}", session.origin().ascii_serialization(), session.path());
    chart_the_pre_dose_facts_and_give_the_dose(nurse, &session_url, &now, "E2E-NOTE-1").await;
    for (minutes, keys) in [(138, "150\t90\t80\t98\t14\t4\t0"), (60, "126\t78\t70\t98\t14\t5\t0")] {
        enter_a_row_of_vital_signs(nurse, &session_url, &minutes_before(&now, minutes), keys).await;
    }
    discharge_through_the_pages(nurse, &session_url).await?;

    // The note, generated from the session: edited, saved as a draft, signed.
    click(nurse, Locator::LinkText("Session note and signatures")).await;
    wait_for_path(nurse, "/notes").await;
    let generated = field_value(nurse, "new-note-text").await;
    for text in ["Pre-dose gate: proceed.", "lot E2E-NOTE-1", "- BP (", "- MOAA/S (", "Discharge: ready."] {
        assert!(generated.contains(text), "{text} in the generated note: {generated}");
    }
    assert_accessible(nurse, "the session note page").await;
    click(nurse, Locator::Id("save-note")).await;
    wait_for_path(nurse, "done=draft").await;
    let draft = nurse.find(Locator::Id("note-0-text")).await.map_err(|e| e.to_string())?;
    draft.send_keys("Tolerated well; continue the induction.").await.unwrap();
    click_button(nurse, "Save the draft").await;
    nurse
        .wait()
        .for_element(Locator::XPath("//textarea[contains(., 'Tolerated well')]"))
        .await
        .map_err(|e| e.to_string())?;
    click(nurse, Locator::Id("note-0-sign")).await;
    wait_for_path(nurse, "done=signed").await;
    let note = text_of(nurse, "note-0").await;
    assert!(note.contains("awaiting a prescriber's co-signature") && note.contains("demo.nurse (nurse) on"), "{note}");
    assert!(
        note.contains("Tolerated well; continue the induction.") && note.contains("SHA-256 of the text signed"),
        "{note}"
    );
    assert!(nurse.find(Locator::Id("note-0-sign")).await.is_err(), "a signed note has no sign button");
    nurse.set_window_size(1280, 2400).await.unwrap();
    screenshot(nurse, "note-signed-by-nurse.png").await;
    nurse.set_window_size(1280, 1000).await.unwrap();

    // The prescriber co-signs from the worklist.
    sign_in_with_one_time_password(
        prescriber,
        base_url,
        "demo.prescriber",
        &passwords.1,
        "a prescriber's own password",
    )
    .await?;
    let waiting = text_of(prescriber, "notes-awaiting-cosignature").await;
    assert!(waiting.contains("Session note"), "{waiting}");
    click(prescriber, Locator::Css("#notes-awaiting-cosignature tbody a")).await;
    wait_for_path(prescriber, "/notes").await;
    click(prescriber, Locator::Id("note-0-cosign")).await;
    wait_for_path(prescriber, "done=cosigned").await;
    let note = text_of(prescriber, "note-0").await;
    assert!(
        note.contains("SIGNED AND CO-SIGNED")
            && note.contains("Co-signed by")
            && note.contains("demo.prescriber (prescriber) on"),
        "{note}"
    );
    screenshot(prescriber, "note-cosigned.png").await;
    prescriber.goto(&format!("{base_url}/worklist")).await.unwrap();
    let waiting = text_of(prescriber, "notes-awaiting-cosignature").await;
    assert!(waiting.contains("No notes awaiting co-signature"), "{waiting}");

    // Every printable page, printed.
    prescriber.goto(&format!("{session_url}/record")).await.unwrap();
    let record = text_of(prescriber, "record-note").await;
    assert!(record.contains("Tolerated well") && record.contains("Co-signed by demo.prescriber"), "{record}");
    print_preview(prescriber, webdriver, "print-session-record.png").await;
    prescriber.goto(&format!("{session_url}/after-care")).await.unwrap();
    let sheet = text_of(prescriber, "main").await;
    assert!(sheet.contains("Do not drive") && sheet.contains("+1 555 0100") && sheet.contains("E2E-NOTE-1"), "{sheet}");
    assert_accessible(prescriber, "the after-care sheet").await;
    print_preview(prescriber, webdriver, "print-after-care.png").await;
    prescriber.goto(&format!("{session_url}/rems-form")).await.unwrap();
    print_preview(prescriber, webdriver, "print-rems-form.png").await;
    prescriber.goto(&format!("{patient_url}/summary")).await.unwrap();
    print_preview(prescriber, webdriver, "print-summary.png").await;
    prescriber.goto(&format!("{session_url}/notes")).await.unwrap();
    print_preview(prescriber, webdriver, "print-session-note.png").await;
    Ok(())
}

/// Issue 14's self-report link on a phone: a nurse makes a PHQ-9 link on a patient's overview; the patient
/// opens it in a 360×740 browser without an account, answers (item 9 "Several days"), sees the
/// confirmation and the crisis text; the link then refuses a second use; and the prescriber's open
/// worklist shows the critical self-report alert within 2 seconds without a reload (the live feed).
/// Screenshots: `self-report-*.png`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_answers_a_phq9_link_on_a_phone_and_the_worklist_shows_the_item_9_alert() {
    let Ok(webdriver) = std::env::var(WEBDRIVER_VARIABLE) else {
        println!("skipped: set {WEBDRIVER_VARIABLE} to a chromedriver URL (e.g. http://127.0.0.1:9515) to run it");
        return;
    };
    let directory = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}", directory.path().join("demo.db").display());
    let demo = start_demo(&database_url);
    let nurse_password = reset_password(&database_url, "demo.nurse");
    let prescriber_password = reset_password(&database_url, "demo.prescriber");
    let nurse = browser(&webdriver).await;
    let prescriber = browser(&webdriver).await;
    let patient = browser(&webdriver).await;
    let outcome =
        self_report_journey(&nurse, &prescriber, &patient, &demo.base_url, &nurse_password, &prescriber_password).await;
    for client in [nurse, prescriber, patient] {
        let _ = client.close().await;
    }
    outcome.expect("the self-report link in the browser");
}

async fn self_report_journey(
    nurse: &Client,
    prescriber: &Client,
    patient: &Client,
    base_url: &str,
    nurse_password: &str,
    prescriber_password: &str,
) -> Result<(), String> {
    const WITHIN: Duration = Duration::from_secs(2);
    sign_in_with_one_time_password(
        prescriber,
        base_url,
        "demo.prescriber",
        prescriber_password,
        "a prescriber's own password",
    )
    .await?;
    wait_for_live_feed(prescriber).await;
    mark_page(prescriber).await;

    sign_in_with_one_time_password(nurse, base_url, "demo.nurse", nurse_password, "a nurse's own password").await?;
    nurse.goto(&format!("{base_url}/patients")).await.map_err(|e| e.to_string())?;
    click(nurse, Locator::Css("main table a[href^='/patients/']")).await;
    wait_for_path(nurse, "/patients/").await;
    click_button_and_wait_for(nurse, "Make a link for the patient", "/self-report-links").await;
    let link_field = nurse.find(Locator::Css("[data-self-report-link]")).await.map_err(|e| e.to_string())?;
    let link = link_field.prop("value").await.map_err(|e| e.to_string())?.ok_or("the link is shown")?;
    assert!(link.starts_with(&format!("{base_url}/r/")), "{link}");
    screenshot(nurse, "self-report-link-made.png").await;

    // The patient's phone: 360 px wide, no account.
    patient.set_window_size(360, 740).await.map_err(|e| e.to_string())?;
    patient.goto(&link).await.map_err(|e| e.to_string())?;
    let layout = patient
        .execute(
            "const choices = Array.from(document.querySelectorAll('.patient-choice')); \
             return { width: document.documentElement.clientWidth, scroll: document.documentElement.scrollWidth, \
               smallest: Math.min(...choices.map((c) => c.getBoundingClientRect().height)), count: choices.length };",
            Vec::new(),
        )
        .await
        .map_err(|e| e.to_string())?;
    assert!(layout["width"].as_u64().unwrap_or(0) <= 360, "a phone-sized viewport: {layout}");
    assert!(layout["scroll"].as_u64() <= layout["width"].as_u64(), "nothing wider than the phone: {layout}");
    assert!(layout["smallest"].as_f64().unwrap_or(0.0) >= 44.0, "every answer is a 44 px target: {layout}");
    assert_eq!(layout["count"], 36, "nine questions of four answers: {layout}");
    assert_accessible(patient, "the patient's self-report page").await;
    screenshot(patient, "self-report-phone.png").await;
    let started = std::time::Instant::now();
    for item in 0..9 {
        let answer = if item == 8 { 1 } else { item % 3 };
        let choice = patient
            .find(Locator::Css(&format!("label[for='item-{item}-{answer}']")))
            .await
            .map_err(|e| e.to_string())?;
        choice.click().await.map_err(|e| e.to_string())?;
    }
    click_button(patient, "Send my answers").await;
    for _ in 0..100 {
        if patient.find(Locator::Css("[data-self-report-sent]")).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sent = patient.find(Locator::Css("main")).await.map_err(|e| e.to_string())?.text().await.unwrap_or_default();
    assert!(sent.contains("Thank you") && sent.contains("988"), "the confirmation and the crisis text: {sent}");
    println!("the patient answered and sent the PHQ-9 in {:?} (scripted clicks)", started.elapsed());
    screenshot(patient, "self-report-sent.png").await;

    let took = text_appears_within(prescriber, "worklist-lists", "Suicidality screen positive", WITHIN).await?;
    assert!(page_was_not_reloaded(prescriber).await, "the worklist updated without a reload");
    println!("the self-report alert reached the prescriber's worklist in {took:?}");
    screenshot(prescriber, "self-report-worklist.png").await;

    patient.goto(&link).await.map_err(|e| e.to_string())?;
    let again = patient.find(Locator::Css("main")).await.map_err(|e| e.to_string())?.text().await.unwrap_or_default();
    assert!(again.contains("This link does not work"), "a second use is refused: {again}");
    assert!(!again.contains("Hello"), "and says nothing of the patient: {again}");
    Ok(())
}
