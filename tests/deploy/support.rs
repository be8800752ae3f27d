//! Reading the deployment files, and running the real binary and real servers.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde::Deserialize;
use serde_yaml_ng::Value;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_attache");

/// A path inside the repository.
pub fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// A repository file's text.
pub fn read(rel: &str) -> String {
    std::fs::read_to_string(repo(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// A one-document YAML file, with `<<` merge keys applied (as Compose applies them).
pub fn yaml(rel: &str) -> Value {
    let mut v: Value = serde_yaml_ng::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    v.apply_merge().unwrap();
    v
}

/// Every document of a multi-document YAML file.
pub fn yaml_docs(rel: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(&read(rel))
        .map(|d| Value::deserialize(d).unwrap_or_else(|e| panic!("{rel}: {e}")))
        .filter(|v| !v.is_null())
        .collect()
}

/// A YAML sequence of strings.
pub fn strings(v: &Value) -> Vec<String> {
    v.as_sequence()
        .unwrap_or_else(|| panic!("not a sequence: {v:?}"))
        .iter()
        .map(|s| match s {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            other => panic!("not a string: {other:?}"),
        })
        .collect()
}

/// A YAML string.
pub fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v:?}"))
}

/// `attache SUB --help`.
pub fn help(sub: &str) -> String {
    let out = Command::new(BIN).args([sub, "--help"]).output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

/// The environment variables `attache SUB --help` lists (`[env: NAME=...]`).
pub fn env_vars(sub: &str) -> BTreeSet<String> {
    let help = help(sub);
    let vars: BTreeSet<String> = help
        .split("[env: ")
        .skip(1)
        .map(|rest| rest.split(['=', ']']).next().unwrap().trim().to_owned())
        .collect();
    assert!(
        vars.contains("ATTACHE_ADDR"),
        "no env vars in the help of {sub}"
    );
    vars
}

/// True when `attache SUB --help` documents the flag `--name`.
pub fn has_flag(help: &str, flag: &str) -> bool {
    [' ', '\n', ',']
        .iter()
        .any(|c| help.contains(&format!("{flag}{c}")))
}

/// The port of `HOST:PORT`.
pub fn port_of(addr: &str) -> u16 {
    addr.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {addr:?}"))
}

/// `attache serve` on 127.0.0.1 port 0 (metrics too), killed on drop.
pub struct Server {
    child: Child,
    /// gRPC address.
    pub grpc: String,
    /// Metrics address.
    pub metrics: String,
}

impl Server {
    /// Starts a server for `model` (the default model when `None`) and waits for its
    /// readiness line.
    pub fn start(model: Option<&Path>) -> Server {
        let mut cmd = Command::new(BIN);
        cmd.args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--metrics-addr",
            "127.0.0.1:0",
        ]);
        if let Some(m) = model {
            cmd.arg("--model").arg(m);
        }
        let mut child = cmd
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        // attache listening on HOST:PORT metrics on HOST:PORT
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words.len(), 7, "no readiness line: {line:?}");
        Server {
            grpc: words[3].to_owned(),
            metrics: words[6].to_owned(),
            child,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The Prometheus page.
    pub fn metrics_page(&self) -> String {
        let mut s = TcpStream::connect(&self.metrics).unwrap();
        write!(s, "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
        let mut page = String::new();
        s.read_to_string(&mut page).unwrap();
        page
    }

    /// The value of one sample (`name{labels}`) on the metrics page.
    pub fn metric(&self, series: &str) -> f64 {
        let page = self.metrics_page();
        page.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {series} in\n{page}"))
            .trim()
            .parse()
            .unwrap()
    }

    /// Resident memory of the process, in bytes.
    pub fn rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .unwrap()
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .unwrap();
        kb * 1024
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `attache health --addr ADDR --service SERVICE` succeeded.
pub fn healthy(addr: &str, service: &str) -> bool {
    Command::new(BIN)
        .args(["health", "--addr", addr, "--service", service])
        .output()
        .unwrap()
        .status
        .success()
}
