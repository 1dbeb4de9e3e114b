//! The `zuora-sim` binary used by shell scripts.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[tokio::test]
async fn binary_prints_its_url_and_serves() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_zuora-sim"))
        .args([
            "--port",
            "0",
            "--latency-ms",
            "1",
            "--not-found-style",
            "200",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let base_url = line
        .trim()
        .strip_prefix("zuora-sim listening on ")
        .expect("ready line")
        .to_string();
    assert!(base_url.starts_with("http://127.0.0.1:"));

    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(format!("{base_url}/oauth/token"))
        .form(&[
            ("client_id", "sim-client"),
            ("client_secret", "sim-secret"),
            ("grant_type", "client_credentials"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let missing = http
        .get(format!("{base_url}/v1/accounts/NOPE"))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), reqwest::StatusCode::OK);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn binary_rejects_bad_arguments() {
    let output = Command::new(env!("CARGO_BIN_EXE_zuora-sim"))
        .args(["--port", "x"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--port"));
}
