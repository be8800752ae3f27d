//! The nginx load balancer's configuration (deploy/nginx.conf.template and its rendering
//! deploy/nginx.conf) and deploy/rolling-reload.sh.

use std::collections::BTreeSet;
use std::process::Command;

use crate::compose::{grpc_port, replicas};
use crate::support::*;

fn render(args: &[&str]) -> String {
    let out = Command::new("bash")
        .arg(repo("deploy/render-nginx-conf.sh"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `server HOST:PORT ...;` lines of the `upstream` block.
fn upstream_servers(conf: &str) -> Vec<String> {
    let block = conf
        .split("upstream attache {")
        .nth(1)
        .expect("an upstream block")
        .split('}')
        .next()
        .unwrap();
    block
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("server "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn nginx_conf_is_the_template_rendered_for_the_compose_replicas() {
    let (c, names) = replicas();
    let listen = format!("0.0.0.0:{}", grpc_port(&c, &names[0]));
    let upstreams: Vec<String> = names
        .iter()
        .map(|n| format!("{n}:{}", grpc_port(&c, n)))
        .collect();
    let mut args = vec![
        "--listen",
        &listen,
        "--run-dir",
        "/tmp",
        "--access-log",
        "/dev/stdout",
    ];
    args.extend(upstreams.iter().map(String::as_str));
    assert!(
        render(&args) == read("deploy/nginx.conf"),
        "deploy/nginx.conf is stale: deploy/render-nginx-conf.sh {}  > deploy/nginx.conf",
        args.join(" ")
    );
}

#[test]
fn nginx_balances_grpc_over_every_replica_port_with_passive_health_checks() {
    let (c, names) = replicas();
    let conf = read("deploy/nginx.conf");
    let servers = upstream_servers(&conf);
    let addrs: BTreeSet<String> = servers
        .iter()
        .map(|s| s.split_whitespace().nth(1).unwrap().to_owned())
        .collect();
    let want: BTreeSet<String> = names
        .iter()
        .map(|n| format!("{n}:{}", grpc_port(&c, n)))
        .collect();
    assert_eq!(
        addrs, want,
        "upstream servers are the replicas on their gRPC ports"
    );
    for s in &servers {
        assert!(
            s.contains(" max_fails=") && s.contains(" fail_timeout="),
            "{s}"
        );
    }
    let lb_port = grpc_port(&c, &names[0]);
    assert!(conf.contains(&format!("listen 0.0.0.0:{lb_port} http2;")));
    assert!(conf.contains("grpc_pass grpc://attache;"));
    // A failed attempt (refused, reset, timed out) moves on to another replica...
    assert!(conf.contains("grpc_next_upstream error timeout;"));
    // ...and when none answers, clients get a gRPC status, not an HTML error page.
    assert!(conf.contains("add_header grpc-status 14 always;"));
}

#[test]
fn the_rendered_configuration_passes_nginx_t_when_nginx_is_installed() {
    let Ok(version) = Command::new("nginx").arg("-v").output() else {
        eprintln!("nginx is not installed here: skipped (deploy/lb-demo.sh installs it)");
        return;
    };
    assert!(version.status.success());
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().to_str().unwrap();
    let log = format!("{run_dir}/access.log buffer=64k flush=1s");
    let conf = render(&[
        "--listen",
        "127.0.0.1:1",
        "--run-dir",
        run_dir,
        "--access-log",
        &log,
        "127.0.0.1:2",
        "127.0.0.1:3",
    ]);
    let file = dir.path().join("nginx.conf");
    std::fs::write(&file, conf).unwrap();
    let out = Command::new("nginx")
        .args(["-t", "-q", "-e", "stderr", "-p"])
        .arg(format!("{run_dir}/"))
        .arg("-c")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn rolling_reload(targets: &[&Server]) -> std::process::Output {
    let args: Vec<String> = targets
        .iter()
        .map(|s| format!("{},{},{}", s.pid(), s.grpc, s.metrics))
        .collect();
    Command::new("bash")
        .arg(repo("deploy/rolling-reload.sh"))
        .args(["--timeout", "10", "--local"])
        .args(&args)
        .env("ATTACHE_BIN", BIN)
        .output()
        .unwrap()
}

const OK: &str = r#"attache_model_reloads_total{result="ok"}"#;
const FAILED: &str = r#"attache_model_reloads_total{result="failed"}"#;

#[test]
fn rolling_reload_reloads_each_replica_and_stops_at_the_first_failure() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.attache");
    std::fs::copy(repo("models/diplomatic-news.attache"), &model).unwrap();
    let a = Server::start(Some(&model));
    let b = Server::start(Some(&model));

    let out = rolling_reload(&[&a, &b]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("rolling reload done: 2 replicas"),
        "{stdout}"
    );
    for s in [&a, &b] {
        assert_eq!((s.metric(OK), s.metric(FAILED)), (1.0, 0.0));
    }

    // A broken model file: the first replica refuses it and keeps serving; the roll stops
    // there and the second replica is not asked.
    std::fs::write(&model, b"not a model").unwrap();
    let out = rolling_reload(&[&a, &b]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("reload FAILED"), "{stderr}");
    assert_eq!((a.metric(OK), a.metric(FAILED)), (1.0, 1.0));
    assert_eq!((b.metric(OK), b.metric(FAILED)), (1.0, 0.0));
    assert!(healthy(&a.grpc, "attache.v1.Classifier"));
    assert!(healthy(&b.grpc, "attache.v1.Classifier"));
}

#[test]
fn deployment_scripts_parse() {
    for script in [
        "deploy/render-nginx-conf.sh",
        "deploy/rolling-reload.sh",
        "deploy/lb-demo.sh",
        "deploy/k8s/model-configmap.sh",
        "deploy/k8s/validate.sh",
        "scripts/shard-train.sh",
    ] {
        let out = Command::new("bash")
            .arg("-n")
            .arg(repo(script))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
