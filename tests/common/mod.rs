//! Helpers shared by the end-to-end tests of the `accsim` binary.
#![allow(dead_code)] // each test crate uses its own subset

use assert_cmd::Command;

/// The binary under test.
pub fn accsim() -> Command {
    Command::cargo_bin("accsim").unwrap()
}

/// Run `cmd`, insist it succeeded, and parse what it printed as JSON.
pub fn stdout_json(cmd: &mut Command) -> serde_json::Value {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `accsim run` of `workload` on `arch` with `extra` flags, timing only, as JSON.
pub fn run_json(arch: &str, workload: &str, extra: &[&str]) -> serde_json::Value {
    stdout_json(
        accsim()
            .args(["run", "--arch", arch, "--workload", workload])
            .args(["--numerics", "off", "--json"])
            .args(extra),
    )
}

/// `accsim run` of `workload` on `arch` with `extra` flags is refused as a usage error: exit
/// code 2, with `needle` (the flag or reason) in what it printed on stderr.
pub fn run_refused(arch: &str, workload: &str, extra: &[&str], needle: &str) {
    accsim()
        .args(["run", "--arch", arch, "--workload", workload])
        .args(extra)
        .assert()
        .code(2)
        .stderr(predicates::str::contains(needle));
}

/// Check what every `accsim run --json` record of a fitting run holds, whatever the family:
/// the documented keys, every part at or above its memory and compute bounds; returns the part
/// names and the unit kinds in order.
pub fn check_run_record(r: &serde_json::Value) -> (Vec<String>, Vec<String>) {
    for key in [
        "arch",
        "workload",
        "format",
        "units",
        "decode_tokens_per_s",
        "ttft_s",
        "cycles_per_token",
        "utilization",
        "fits",
        "numerics",
    ] {
        assert!(r.get(key).is_some(), "missing {key}: {r}");
    }
    assert_eq!(r["fits"], true);
    let names = |list: &str, key: &str| -> Vec<String> {
        r[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x[key].as_str().unwrap().to_owned())
            .collect()
    };
    for p in r["parts"].as_array().unwrap() {
        let cycles = p["cycles"].as_u64().unwrap();
        assert!(cycles >= p["memory_bound_cycles"].as_u64().unwrap(), "{p}");
        assert!(cycles >= p["compute_bound_cycles"].as_u64().unwrap(), "{p}");
    }
    (names("parts", "name"), names("unit_busy", "unit"))
}
