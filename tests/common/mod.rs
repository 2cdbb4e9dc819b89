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

/// Keys every `accsim run --json` record has, whatever the family.
pub const RUN_KEYS: [&str; 10] = [
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
];
