//! The deployment files agree with the binary: docker-compose.yml's command, ports,
//! environment and healthcheck use flags and variables that `attache` really has, and the
//! healthcheck command succeeds against a running server. (No Docker engine runs on our
//! machines; `.ci/run` additionally validates the file with the real Compose binary.)

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_yaml_ng::Value;

const BIN: &str = env!("CARGO_BIN_EXE_attache");

fn compose() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docker-compose.yml");
    serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_sequence()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

fn help(sub: &str) -> String {
    let out = Command::new(BIN).args([sub, "--help"]).output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn compose_environment_names_are_variables_the_server_reads() {
    let c = compose();
    let env = c["services"]["attache"]["environment"]
        .as_mapping()
        .unwrap();
    let help = help("serve");
    for (name, _) in env {
        let name = name.as_str().unwrap();
        assert!(
            help.contains(&format!("[env: {name}")),
            "{name} is not listed in `attache serve --help`"
        );
    }
    let command = strings(&c["services"]["attache"]["command"]);
    assert_eq!(command, ["serve"]);
}

#[test]
fn compose_ports_match_the_configured_listen_addresses() {
    let c = compose();
    let svc = &c["services"]["attache"];
    let env = &svc["environment"];
    let port_of = |key: &str| {
        env[key]
            .as_str()
            .unwrap()
            .rsplit(':')
            .next()
            .unwrap()
            .to_owned()
    };
    let published: Vec<String> = strings(&svc["ports"])
        .iter()
        .map(|p| p.rsplit(':').next().unwrap().to_owned())
        .collect();
    assert!(env["ATTACHE_ADDR"]
        .as_str()
        .unwrap()
        .starts_with("0.0.0.0:"));
    assert!(published.contains(&port_of("ATTACHE_ADDR")));
    assert!(published.contains(&port_of("ATTACHE_METRICS_ADDR")));
    let prometheus = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/prometheus.yml"
    ))
    .unwrap();
    assert!(prometheus.contains(&format!("attache:{}", port_of("ATTACHE_METRICS_ADDR"))));
    // The model path the container serves lies inside the mounted model directory.
    let model = env["ATTACHE_MODEL"].as_str().unwrap();
    let dir = env["ATTACHE_MODEL_DIR"].as_str().unwrap();
    assert!(model.starts_with(dir));
    let volumes = strings(&svc["volumes"]);
    assert!(volumes.iter().any(|v| v.contains(&format!(":{dir}"))));
}

#[test]
fn compose_healthcheck_succeeds_against_a_running_server() {
    let c = compose();
    let test = strings(&c["services"]["attache"]["healthcheck"]["test"]);
    assert_eq!(test[0], "CMD");
    assert_eq!(test[1], "attache");
    let args = &test[2..];
    assert_eq!(args[0], "health");
    let addr_pos = args.iter().position(|a| a == "--addr").unwrap() + 1;
    assert!(args[addr_pos].starts_with("127.0.0.1:"));

    let mut server = Command::new(BIN)
        .args(["serve", "--addr", "127.0.0.1:0", "--metrics-addr", "off"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split_whitespace()
        .nth(3)
        .unwrap_or_else(|| panic!("no readiness line: {line:?}"))
        .to_owned();
    let mut probe: Vec<String> = args.to_vec();
    probe[addr_pos] = addr;
    let status = Command::new(BIN).args(&probe).output().unwrap();
    server.kill().unwrap();
    server.wait().unwrap();
    assert!(
        status.status.success(),
        "healthcheck failed: {}",
        String::from_utf8_lossy(&status.stdout)
    );
}
