//! docker-compose.yml: attache replicas behind an nginx load balancer, and Prometheus.

use std::collections::BTreeSet;
use std::process::Command;

use serde_yaml_ng::Value;

use crate::support::*;

/// The compose file and its attache replicas (services named `attache-N`), in order.
pub fn replicas() -> (Value, Vec<String>) {
    let c = yaml("docker-compose.yml");
    let names: Vec<String> = c["services"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| str_of(k).to_owned())
        .filter(|k| k.starts_with("attache-"))
        .collect();
    (c, names)
}

/// The gRPC port a replica listens on (from its ATTACHE_ADDR).
pub fn grpc_port(c: &Value, name: &str) -> u16 {
    port_of(str_of(&c["services"][name]["environment"]["ATTACHE_ADDR"]))
}

#[test]
fn compose_runs_several_replicas_of_serve_with_variables_the_server_reads() {
    let (c, names) = replicas();
    assert!(names.len() >= 2, "more than one replica: {names:?}");
    let known = env_vars("serve");
    for name in &names {
        let svc = &c["services"][name.as_str()];
        assert_eq!(strings(&svc["command"]), ["serve"], "{name}");
        for (var, _) in svc["environment"].as_mapping().unwrap() {
            let var = str_of(var);
            assert!(
                known.contains(var),
                "{name}: {var} is not in `attache serve --help`"
            );
        }
        // Replicas are interchangeable: the same configuration everywhere.
        assert_eq!(
            svc,
            &c["services"][names[0].as_str()],
            "{name} differs from {}",
            names[0]
        );
    }
}

#[test]
fn replicas_expose_their_listen_ports_and_prometheus_scrapes_every_one() {
    let (c, names) = replicas();
    let prometheus: Value = serde_yaml_ng::from_str(&read("deploy/prometheus.yml")).unwrap();
    let targets: BTreeSet<String> = prometheus["scrape_configs"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|job| job["static_configs"].as_sequence().unwrap())
        .flat_map(|sc| strings(&sc["targets"]))
        .collect();
    let mut want = BTreeSet::new();
    for name in &names {
        let svc = &c["services"][name.as_str()];
        let env = &svc["environment"];
        let addr = str_of(&env["ATTACHE_ADDR"]);
        assert!(
            addr.starts_with("0.0.0.0:"),
            "{name} listens on all interfaces"
        );
        let exposed = strings(&svc["expose"]);
        let metrics = port_of(str_of(&env["ATTACHE_METRICS_ADDR"]));
        assert!(
            exposed.contains(&port_of(addr).to_string()),
            "{name}: {exposed:?}"
        );
        assert!(
            exposed.contains(&metrics.to_string()),
            "{name}: {exposed:?}"
        );
        want.insert(format!("{name}:{metrics}"));
        // The model the container serves lies inside the mounted model directory.
        let model = str_of(&env["ATTACHE_MODEL"]);
        let dir = str_of(&env["ATTACHE_MODEL_DIR"]);
        assert!(model.starts_with(&format!("{dir}/")));
        let volumes = strings(&svc["volumes"]);
        assert!(volumes.iter().any(|v| v.contains(&format!(":{dir}"))));
    }
    assert_eq!(
        targets, want,
        "Prometheus scrapes exactly the replicas' metrics ports"
    );
}

#[test]
fn the_load_balancer_publishes_the_grpc_port_and_starts_after_healthy_replicas() {
    let (c, names) = replicas();
    let lb = &c["services"]["lb"];
    let published: Vec<u16> = strings(&lb["ports"])
        .iter()
        .map(|p| port_of(p.trim_end_matches("/tcp")))
        .collect();
    assert!(
        published.contains(&grpc_port(&c, &names[0])),
        "{published:?}"
    );
    // No replica publishes its own port: clients go through the balancer.
    for name in &names {
        assert!(
            c["services"][name.as_str()]["ports"].is_null(),
            "{name} publishes ports"
        );
        assert_eq!(
            str_of(&lb["depends_on"][name.as_str()]["condition"]),
            "service_healthy",
            "lb waits for {name}"
        );
    }
    // deploy/nginx.conf is mounted where the lb image's command reads its configuration.
    let volumes = strings(&lb["volumes"]);
    assert!(volumes.contains(&"./deploy/nginx.conf:/etc/nginx/nginx.conf:ro".to_owned()));
    let dockerfile = format!(
        "{}/{}",
        str_of(&lb["build"]["context"]),
        str_of(&lb["build"]["dockerfile"])
    );
    let cmd = read(&dockerfile)
        .lines()
        .find(|l| l.starts_with("CMD "))
        .unwrap()
        .to_owned();
    assert!(cmd.contains(r#""-c", "/etc/nginx/nginx.conf""#), "{cmd}");
}

#[test]
fn compose_healthcheck_succeeds_against_a_running_server() {
    let (c, names) = replicas();
    let test = strings(&c["services"][names[0].as_str()]["healthcheck"]["test"]);
    assert_eq!(test[..3], ["CMD", "attache", "health"]);
    let mut args = test[2..].to_vec();
    let addr_pos = args.iter().position(|a| a == "--addr").unwrap() + 1;
    assert_eq!(port_of(&args[addr_pos]), grpc_port(&c, &names[0]));
    assert!(args[addr_pos].starts_with("127.0.0.1:"));

    let server = Server::start(None);
    args[addr_pos] = server.grpc.clone();
    let out = Command::new(BIN).args(&args).output().unwrap();
    assert!(
        out.status.success(),
        "healthcheck {args:?} failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    drop(server);
    // ...and fails once the server is gone, so it does check something.
    assert!(!Command::new(BIN)
        .args(&args)
        .output()
        .unwrap()
        .status
        .success());
}
