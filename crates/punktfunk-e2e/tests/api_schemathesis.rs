//! Property-based fuzzing of the management API: schemathesis (scripts/schemathesis.sh, from PyPI)
//! generates requests for every operation in api/openapi.json, with the admin token, against a real
//! `punktfunk-host serve`; no answer may be a server error. Needs PyPI the first time (the venv is
//! cached in the target dir afterwards).

use punktfunk_e2e::api_common;

use api_common::Host;
use std::path::Path;
use std::process::Command;

#[test]
fn schemathesis_finds_no_server_errors() {
    let host = Host::start("schemathesis", "127.0.0.1");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/schemathesis.sh");
    let output = Command::new("bash")
        .arg(&script)
        .arg(format!("https://{}", host.api))
        .arg(&host.token)
        .args(["--max-examples", "50", "--request-timeout", "20"])
        .output()
        .expect("run scripts/schemathesis.sh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "schemathesis reported failures:\n{stdout}\n{stderr}"
    );
    let summary = stdout
        .lines()
        .find(|l| l.contains("generated") && l.contains("passed"))
        .unwrap_or_else(|| panic!("no test-case summary in the output:\n{stdout}"));
    let generated: u64 = summary
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        generated >= 100,
        "schemathesis ran only {generated} cases: {summary}"
    );
    eprintln!("schemathesis: {}", summary.trim());
    // The host survived all of it.
    assert!(
        std::net::TcpStream::connect(host.api).is_ok(),
        "the API still accepts connections"
    );
}
