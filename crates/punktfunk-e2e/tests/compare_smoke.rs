//! The protocol comparison (scripts/compare-protocols.sh, docs/comparison.md) in its short form: the
//! host in one network namespace, moonlight-python (GameStream) and the probe (punktfunk/1) in
//! another, nftables dropping UDP on the veth between them. Both protocols must get frames through
//! every impaired condition; how well they do is the report's business, not this test's.

use punktfunk_e2e::common::{is_root, workspace_bin};
use std::path::Path;
use std::process::Command;

fn runs(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Why this machine cannot run the comparison, if it cannot.
fn cannot_run() -> Option<&'static str> {
    if !is_root() {
        return Some("needs root (network namespaces, nftables)");
    }
    if !runs("ip", "-V") {
        return Some("needs iproute2 (`ip`)");
    }
    if !runs("nft", "--version") {
        return Some("needs nftables (`nft`; scripts/setup.sh installs it)");
    }
    None
}

#[test]
fn both_protocols_stream_through_the_impaired_path() {
    if let Some(why) = cannot_run() {
        // CI and the dev machines run as root with setup.sh's packages; say loudly why not here.
        eprintln!("SKIPPED: protocol comparison smoke test {why}");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    // The binaries of this build (make test builds them in debug), not a release build of its own.
    let bin_dir = workspace_bin("punktfunk-probe")
        .parent()
        .expect("bin dir")
        .to_path_buf();
    let out_dir = std::env::temp_dir().join(format!("pf-compare-smoke-{}", std::process::id()));
    let json = out_dir.join("report.json");
    let run = Command::new("bash")
        .arg(root.join("scripts/compare-protocols.sh"))
        .args(["--quick", "--json"])
        .arg(&json)
        .env("NO_BUILD", "1")
        .env("BIN_DIR", &bin_dir)
        .output()
        .expect("run scripts/compare-protocols.sh");
    let stderr = String::from_utf8_lossy(&run.stderr);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "compare-protocols.sh --quick failed:\n{stderr}\n{stdout}"
    );
    eprintln!("{stdout}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("the JSON report"))
            .expect("the JSON report parses");
    let _ = std::fs::remove_dir_all(&out_dir);
    let rows = report["rows"].as_array().expect("rows");
    // --quick: three conditions, each for both protocols.
    assert_eq!(rows.len(), 6, "{rows:#?}");
    for protocol in ["gamestream", "punktfunk1"] {
        let ours: Vec<_> = rows.iter().filter(|r| r["protocol"] == protocol).collect();
        assert_eq!(ours.len(), 3, "{protocol}: {rows:#?}");
        for row in ours {
            let what = format!("{protocol} under {}: {row:#}", row["condition"]);
            assert!(row["error"].is_null(), "{what}");
            // Frames were shown while the impairment was on …
            assert!(row["frames_shown"].as_u64().unwrap_or(0) > 0, "{what}");
            // … and the impairment really was on that path: the kernel dropped datagrams of it.
            assert!(
                row["dropped_down_packets"].as_u64().unwrap_or(0) > 0,
                "{what}"
            );
            // … datagram by datagram, as a network drops them: what the rules saw were single
            // datagrams (at most the veth's 1500-byte MTU), not the host's segmentation-offload
            // sends, which a veth carries whole and a rule would drop as one burst of up to 44.
            let packet = row["wire_down_packet_bytes"].as_u64().unwrap_or(0);
            assert!((1..=1500).contains(&packet), "{what}");
        }
    }
}
