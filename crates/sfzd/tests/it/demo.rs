//! `sfzd demo`: with the `demo` feature (the default) a real sync between the built-in
//! simulators; without it, a message that says how to build a binary that has it.

use std::process::Command;

fn demo(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sfzd"))
        .arg("demo")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[cfg(feature = "demo")]
#[test]
fn demo_syncs_between_the_simulators_and_a_second_run_writes_nothing() {
    let (code, stdout, stderr) = demo(&["--contacts", "60", "--seed", "3"]);
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stdout.contains("users belong to several organizations"),
        "{stdout}"
    );
    assert!(
        stdout.contains("0 write requests reached Zendesk"),
        "the second run over unchanged data writes nothing:\n{stdout}"
    );
}

#[cfg(not(feature = "demo"))]
#[test]
fn demo_without_the_feature_says_how_to_get_it() {
    let (code, stdout, stderr) = demo(&[]);
    assert_eq!(code, 2, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stderr.contains("built without the demo") && stderr.contains("--features demo"),
        "{stderr}"
    );
}
