//! The deployment files in `deploy/` stay true to the binary: every `sfzd` command line in
//! them parses with the binary's own argument parser, every environment variable they use
//! is one sfzd documents, and the Dockerfile builds the release binary the README builds.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use clap::Parser;
use sfzd::cli::Cli;

/// The command that builds the release binary, in the README and the Dockerfile alike.
const RELEASE_BUILD: &str = "cargo build --release --locked -p sfzd";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every file under `deploy/`, relative to it, sorted.
fn deploy_files() -> Vec<(String, String)> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, base, out);
            } else {
                let name = path
                    .strip_prefix(base)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.push((name, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    let base = repo_root().join("deploy");
    let mut files = Vec::new();
    walk(&base, &base, &mut files);
    files.sort();
    files
}

/// A JSON array of strings after `prefix` on a line (Dockerfile exec form, YAML flow
/// sequences), e.g. `args: ["sync", "--config", "F"]`.
fn array_after(line: &str, prefix: &str) -> Option<Vec<String>> {
    let rest = line
        .trim()
        .trim_start_matches("- ")
        .strip_prefix(prefix)?
        .trim();
    Some(
        serde_json::from_str(rest)
            .unwrap_or_else(|e| panic!("not a JSON array of strings ({e}): {line}")),
    )
}

/// The arguments after `sfzd` of a shell-like command line, up to a redirection.
fn shell_args(words: &[&str]) -> Option<Vec<String>> {
    // The program is a path ending in `/sfzd`, or plain `sfzd` (which is also the user
    // field of a cron.d line, so a path wins).
    let at = words
        .iter()
        .position(|w| w.ends_with("/sfzd"))
        .or_else(|| words.iter().position(|w| *w == "sfzd"))?;
    Some(
        words[at + 1..]
            .iter()
            .take_while(|w| !w.starts_with('>') && !w.starts_with("2>") && **w != "|")
            .map(|w| (*w).to_owned())
            .collect(),
    )
}

/// The `sfzd` command lines of a file, as the arguments after the program name.
fn commands(name: &str, text: &str) -> Vec<Vec<String>> {
    let lines = text.lines().filter(|l| !l.trim_start().starts_with('#'));
    let mut found = Vec::new();
    if name.ends_with(".service") {
        for line in lines {
            if let Some(command) = line.strip_prefix("ExecStart=") {
                let words: Vec<&str> = command.split_whitespace().collect();
                found.extend(shell_args(&words));
            }
        }
    } else if name.ends_with(".cron") {
        for line in lines {
            let words: Vec<&str> = line.split_whitespace().collect();
            found.extend(shell_args(&words));
        }
    } else if name.ends_with(".yaml") {
        let mut program = None;
        for line in lines {
            if let Some(command) = array_after(line, "command:") {
                program = Some(command);
            } else if let Some(args) = array_after(line, "args:") {
                let program = program.take().expect("args: follows its command:");
                assert_eq!(program, ["sfzd"], "{name}: the container runs sfzd");
                found.push(args);
            }
        }
    } else if name.ends_with("Dockerfile") {
        let mut entrypoint = None;
        for line in lines {
            if let Some(command) = array_after(line, "ENTRYPOINT") {
                entrypoint = Some(command);
            } else if let Some(args) = array_after(line, "CMD") {
                assert_eq!(
                    entrypoint.as_deref(),
                    Some(&["sfzd".to_owned()][..]),
                    "{name}: ENTRYPOINT is sfzd"
                );
                found.push(args);
            }
        }
    }
    found
}

/// The environment variables a file sets (systemd `Environment=`, cron `NAME=value`,
/// Kubernetes `env` entries, Dockerfile `ENV` and `ARG`), and every `SFZD_*` word it names.
fn variables(text: &str) -> BTreeSet<String> {
    let is_name = |w: &str| {
        !w.is_empty()
            && w.starts_with(|c: char| c.is_ascii_uppercase())
            && w.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    };
    let mut found = BTreeSet::new();
    for line in text.lines().map(str::trim) {
        // `Environment=NAME=value`, `- name: NAME`, `ENV NAME=value`, `ARG NAME`, `NAME=value`.
        let name = if let Some(rest) = line.strip_prefix("Environment=") {
            rest.split_once('=').map(|(name, _)| name)
        } else if let Some(rest) = line.strip_prefix("- name: ") {
            Some(rest.trim())
        } else if let Some(rest) = line
            .strip_prefix("ENV ")
            .or_else(|| line.strip_prefix("ARG "))
        {
            rest.split(['=', ' ']).next()
        } else {
            line.split_once('=').map(|(name, _)| name)
        };
        if let Some(name) = name.filter(|name| is_name(name)) {
            found.insert(name.to_owned());
        }
        for word in line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if word.starts_with("SFZD_") && is_name(word) {
                found.insert(word.to_owned());
            }
        }
    }
    found
}

#[test]
fn every_sfzd_command_in_deploy_parses_and_uses_documented_variables() {
    let files = deploy_files();
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    // Files that hold no sfzd command line, and why.
    let no_command = [
        ("Dockerfile.dockerignore", "the Docker build context"),
        (
            "kubernetes/common.yaml",
            "the configuration and the state volume",
        ),
        ("systemd/sfzd.timer", "it starts sfzd.service"),
    ];
    let names: BTreeSet<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    for (name, _) in no_command {
        assert!(names.contains(name), "{name} is listed but absent");
    }
    let mut checked = 0;
    for (name, text) in &files {
        let found = commands(name, text);
        if no_command.iter().any(|(n, _)| n == name) {
            assert!(found.is_empty(), "{name}: a command nobody checks");
        } else {
            assert!(
                !found.is_empty(),
                "{name}: no sfzd command line found; teach this test its format or list it in no_command"
            );
        }
        for args in &found {
            let argv = std::iter::once("sfzd".to_owned()).chain(args.iter().cloned());
            if let Err(err) = Cli::try_parse_from(argv) {
                panic!("{name}: `sfzd {}` does not parse:\n{err}", args.join(" "));
            }
            checked += 1;
        }
        for variable in variables(text) {
            assert!(
                readme.contains(&format!("`{variable}`")),
                "{name}: {variable} is not documented in README.md"
            );
            if let Some(secret) = variable.strip_prefix("SFZD_") {
                let known = sfzd::config::SECRET_VARIABLES
                    .iter()
                    .any(|(v, f)| *v == variable || *f == variable)
                    || secret == "BUILD_COMMIT";
                assert!(known, "{name}: sfzd reads no {variable}");
            }
        }
    }
    assert!(checked >= 6, "only {checked} command lines were checked");
}

#[test]
fn the_continuous_deployments_probe_healthz_on_the_listen_port() {
    let files = deploy_files();
    let text = |name: &str| {
        &files
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("deploy/{name} is missing"))
            .1
    };
    let deployment = text("kubernetes/deployment.yaml");
    let args = &commands("deployment.yaml", deployment)[0];
    let flag = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .map(|i| args[i + 1].clone())
            .unwrap_or_else(|| panic!("the Deployment runs without {flag}: {args:?}"))
    };
    let port = flag("--listen").rsplit_once(':').unwrap().1.to_owned();
    flag("--every");
    for probe in ["livenessProbe", "readinessProbe"] {
        assert!(deployment.contains(probe), "{probe} missing");
    }
    assert_eq!(
        deployment
            .matches("httpGet: {path: /healthz, port: metrics}")
            .count(),
        2
    );
    assert!(deployment.contains(&format!("containerPort: {port}")));
    assert!(deployment.contains("claimName: sfzd-state"));
    assert!(deployment.contains("secretName: sfzd-secrets"));
    assert!(text("kubernetes/cronjob.yaml").contains("concurrencyPolicy: Forbid"));
}

#[test]
fn the_dockerfile_builds_the_release_binary_the_readme_builds() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    assert!(
        readme.contains(RELEASE_BUILD),
        "README.md lacks `{RELEASE_BUILD}`"
    );
    let dockerfile = std::fs::read_to_string(repo_root().join("deploy/Dockerfile")).unwrap();
    assert!(
        dockerfile
            .lines()
            .any(|l| l.starts_with("RUN ") && l.ends_with(RELEASE_BUILD)),
        "the Dockerfile does not RUN `{RELEASE_BUILD}`"
    );
    assert!(
        dockerfile.matches("\nFROM ").count() + usize::from(dockerfile.starts_with("FROM ")) >= 2,
        "multi-stage"
    );
    assert!(
        dockerfile.contains("\nUSER 10001"),
        "the image runs as a non-root user"
    );
    assert!(dockerfile.contains("VOLUME [\"/var/lib/sfzd\"]"));
}

#[test]
fn the_extractors_find_what_they_should() {
    assert_eq!(
        commands(
            "x.service",
            "ExecStartPre=/usr/bin/mkdir -p /x\nExecStart=/usr/local/bin/sfzd sync --config F\n"
        ),
        [["sync", "--config", "F"]]
    );
    assert_eq!(
        commands(
            "x.cron",
            "A_B=1\n* * * * * sfzd /bin/sfzd runs --config F >>log 2>&1\n"
        ),
        [["runs", "--config", "F"]]
    );
    assert_eq!(
        commands(
            "x.yaml",
            "  command: [\"sfzd\"]\n  args: [\"sync\", \"--config\", \"F\"]\n"
        ),
        [["sync", "--config", "F"]]
    );
    let names = |names: &[&str]| {
        names
            .iter()
            .map(|n| (*n).to_owned())
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(
        variables(
            "Environment=RUST_LOG=info\nType=exec\nRestrictAddressFamilies=AF_INET\nA_B=1\n\
             - name: TZ_NAME\n- name: sfzd\nENV C_D=1\nARG E_F\n# uses SFZD_X_FILE\n"
        ),
        names(&["A_B", "C_D", "E_F", "RUST_LOG", "SFZD_X_FILE", "TZ_NAME"])
    );
    // A bad flag is caught.
    assert!(Cli::try_parse_from(["sfzd", "sync", "--config", "F", "--evry", "5m"]).is_err());
}
