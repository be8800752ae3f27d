//! The Kubernetes manifests in deploy/k8s: probes, ports and environment against the binary,
//! resources, security, the model ConfigMap against models/, and the sharded-training Jobs'
//! commands against `attache train` / `attache merge`. (deploy/k8s/validate.sh checks them
//! against the Kubernetes API schemas.)

use std::collections::BTreeMap;

use serde_yaml_ng::Value;
use sha2::{Digest, Sha256};

use crate::support::*;

/// Every API object in deploy/k8s, by `Kind/name`.
fn objects() -> BTreeMap<String, Value> {
    let mut all = BTreeMap::new();
    for entry in std::fs::read_dir(repo("deploy/k8s")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if !name.ends_with(".yaml") || name == "kustomization.yaml" {
            continue;
        }
        for doc in yaml_docs(&format!("deploy/k8s/{name}")) {
            let key = format!(
                "{}/{}",
                str_of(&doc["kind"]),
                str_of(&doc["metadata"]["name"])
            );
            assert!(all.insert(key.clone(), doc).is_none(), "{key} twice");
        }
    }
    all
}

fn get<'a>(all: &'a BTreeMap<String, Value>, key: &str) -> &'a Value {
    all.get(key)
        .unwrap_or_else(|| panic!("no {key} in deploy/k8s"))
}

fn container(deployment: &Value) -> &Value {
    let containers = deployment["spec"]["template"]["spec"]["containers"]
        .as_sequence()
        .unwrap();
    assert_eq!(containers.len(), 1);
    &containers[0]
}

fn env(container: &Value) -> BTreeMap<String, Value> {
    container["env"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|e| (str_of(&e["name"]).to_owned(), e.clone()))
        .collect()
}

fn env_value(container: &Value, name: &str) -> String {
    str_of(&env(container)[name]["value"]).to_owned()
}

fn container_port(container: &Value, name: &str) -> u16 {
    container["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|p| p["name"].as_str() == Some(name))
        .and_then(|p| p["containerPort"].as_u64())
        .unwrap_or_else(|| panic!("no container port named {name}")) as u16
}

/// Bytes of a Kubernetes quantity (`64Mi`, `1Gi`) or millicores of a CPU quantity (`500m`, `1`).
fn quantity(v: &Value) -> u64 {
    let s = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => panic!("not a quantity: {other:?}"),
    };
    for (suffix, factor) in [("Ki", 1u64 << 10), ("Mi", 1 << 20), ("Gi", 1 << 30)] {
        if let Some(n) = s.strip_suffix(suffix) {
            return n.parse::<u64>().unwrap() * factor;
        }
    }
    if let Some(m) = s.strip_suffix('m') {
        return m.parse().unwrap();
    }
    s.parse::<u64>().unwrap() * 1000
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn base64_matches_the_standard_alphabet_and_padding() {
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    assert_eq!(base64(&[0xfb, 0xff, 0xfe]), "+//+");
}

#[test]
fn kustomization_lists_the_serving_manifests_and_not_the_training_jobs() {
    let k = yaml("deploy/k8s/kustomization.yaml");
    let resources = strings(&k["resources"]);
    for r in &resources {
        assert!(repo(&format!("deploy/k8s/{r}")).is_file(), "{r} is missing");
    }
    for want in [
        "deployment.yaml",
        "service.yaml",
        "pdb.yaml",
        "hpa.yaml",
        "model-configmap.yaml",
    ] {
        assert!(
            resources.iter().any(|r| r == want),
            "{want} not in {resources:?}"
        );
    }
    assert!(
        !resources.iter().any(|r| r.contains("job")),
        "{resources:?}"
    );
}

#[test]
fn deployment_runs_serve_with_variables_the_server_reads() {
    let all = objects();
    let c = container(get(&all, "Deployment/attache"));
    assert_eq!(strings(&c["args"]), ["serve"]);
    let known = env_vars("serve");
    for name in env(c).keys() {
        assert!(
            known.contains(name),
            "{name} is not in `attache serve --help`"
        );
    }
    // The image is the crate's version, never a moving tag.
    assert_eq!(
        str_of(&c["image"]),
        format!("attache:{}", env!("CARGO_PKG_VERSION"))
    );
    // The admin token comes from an optional Secret, never from the manifest.
    let token = &env(c)["ATTACHE_ADMIN_TOKEN"];
    assert!(token["value"].is_null());
    assert_eq!(
        token["valueFrom"]["secretKeyRef"]["optional"].as_bool(),
        Some(true)
    );
}

#[test]
fn ports_and_native_grpc_probes_match_the_listen_addresses() {
    let all = objects();
    let deployment = get(&all, "Deployment/attache");
    let c = container(deployment);
    let grpc = port_of(&env_value(c, "ATTACHE_ADDR"));
    let metrics = port_of(&env_value(c, "ATTACHE_METRICS_ADDR"));
    assert!(env_value(c, "ATTACHE_ADDR").starts_with("0.0.0.0:"));
    assert_eq!(container_port(c, "grpc"), grpc);
    assert_eq!(container_port(c, "metrics"), metrics);

    let readiness = &c["readinessProbe"]["grpc"];
    let liveness = &c["livenessProbe"]["grpc"];
    assert_eq!(readiness["port"].as_u64(), Some(u64::from(grpc)));
    assert_eq!(liveness["port"].as_u64(), Some(u64::from(grpc)));
    assert_eq!(str_of(&readiness["service"]), "attache.v1.Classifier");
    assert_eq!(str_of(&liveness["service"]), "");

    let annotations = &deployment["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(
        str_of(&annotations["prometheus.io/port"]),
        metrics.to_string()
    );

    // Both Services send traffic to the container's named gRPC port.
    for key in ["Service/attache", "Service/attache-headless"] {
        let ports = get(&all, key)["spec"]["ports"]
            .as_sequence()
            .unwrap()
            .clone();
        let p = ports
            .iter()
            .find(|p| p["name"].as_str() == Some("grpc"))
            .unwrap();
        assert_eq!(str_of(&p["targetPort"]), "grpc", "{key}");
        assert_eq!(p["port"].as_u64(), Some(u64::from(grpc)), "{key}");
        assert_eq!(str_of(&p["appProtocol"]), "kubernetes.io/h2c", "{key}");
    }
}

#[test]
fn the_probed_health_services_answer_serving_on_a_running_server() {
    let all = objects();
    let c = container(get(&all, "Deployment/attache"));
    let server = Server::start(None);
    for probe in ["readinessProbe", "livenessProbe"] {
        let service = str_of(&c[probe]["grpc"]["service"]);
        assert!(
            healthy(&server.grpc, service),
            "{probe}: {service:?} is not SERVING"
        );
    }
    // An unknown service is not SERVING: the probes' names matter.
    assert!(!healthy(&server.grpc, "attache.v1.NoSuchService"));
}

#[test]
fn resources_fit_their_limits_and_leave_room_for_a_serving_process() {
    let all = objects();
    let deployment = get(&all, "Deployment/attache");
    let c = container(deployment);
    let (req, lim) = (&c["resources"]["requests"], &c["resources"]["limits"]);
    for r in ["cpu", "memory"] {
        assert!(quantity(&req[r]) > 0, "{r} request");
        assert!(
            quantity(&req[r]) <= quantity(&lim[r]),
            "{r}: request over limit"
        );
    }
    // A real server with the default model, after some calls, fits four times over.
    let server = Server::start(None);
    classify_some(&server.grpc, 200);
    let rss = server.rss_bytes();
    assert!(
        quantity(&lim["memory"]) >= 4 * rss,
        "memory limit {:?} vs RSS {rss}",
        lim["memory"]
    );
    assert!(
        quantity(&req["memory"]) >= rss,
        "memory request below RSS {rss}"
    );

    // SIGTERM: preStop sleep, then the server's grace period, then the kill.
    let pre_stop: u64 = strings(&c["lifecycle"]["preStop"]["exec"]["command"])[1]
        .parse()
        .unwrap();
    let grace: u64 = env_value(c, "ATTACHE_GRACE_PERIOD")
        .trim_end_matches('s')
        .parse()
        .unwrap();
    let termination = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        .as_u64()
        .unwrap();
    assert!(
        termination > pre_stop + grace,
        "{termination} <= {pre_stop} + {grace}"
    );
}

#[test]
fn pods_run_as_the_images_non_root_user_without_privileges() {
    let uid: u64 = read("Dockerfile")
        .split("--uid ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .expect("Dockerfile creates a user with --uid");
    let all = objects();
    for key in [
        "Deployment/attache",
        "Job/attache-train-shards",
        "Job/attache-train-merge",
    ] {
        let pod = &get(&all, key)["spec"]["template"]["spec"];
        assert_eq!(
            pod["securityContext"]["runAsNonRoot"].as_bool(),
            Some(true),
            "{key}"
        );
        assert_eq!(
            pod["securityContext"]["runAsUser"].as_u64(),
            Some(uid),
            "{key}"
        );
        let containers = pod["containers"]
            .as_sequence()
            .unwrap()
            .iter()
            .chain(pod["initContainers"].as_sequence().into_iter().flatten());
        for c in containers {
            let sc = &c["securityContext"];
            assert_eq!(
                sc["allowPrivilegeEscalation"].as_bool(),
                Some(false),
                "{key}"
            );
            assert_eq!(sc["readOnlyRootFilesystem"].as_bool(), Some(true), "{key}");
            assert_eq!(strings(&sc["capabilities"]["drop"]), ["ALL"], "{key}");
            assert!(quantity(&c["resources"]["requests"]["cpu"]) > 0, "{key}");
        }
    }
}

#[test]
fn service_budget_and_autoscaler_select_the_deployments_pods() {
    let all = objects();
    let deployment = get(&all, "Deployment/attache");
    let labels = deployment["spec"]["template"]["metadata"]["labels"]
        .as_mapping()
        .unwrap();
    let selects_pods = |selector: &Value, what: &str| {
        let selector = selector.as_mapping().unwrap();
        assert!(!selector.is_empty(), "{what}");
        for (k, v) in selector {
            assert_eq!(
                labels.get(k),
                Some(v),
                "{what}: {k:?} does not select the pods"
            );
        }
    };
    selects_pods(&deployment["spec"]["selector"]["matchLabels"], "Deployment");
    selects_pods(&get(&all, "Service/attache")["spec"]["selector"], "Service");
    selects_pods(
        &get(&all, "Service/attache-headless")["spec"]["selector"],
        "headless",
    );
    assert_eq!(
        str_of(&get(&all, "Service/attache-headless")["spec"]["clusterIP"]),
        "None"
    );
    let pdb = get(&all, "PodDisruptionBudget/attache");
    selects_pods(
        &pdb["spec"]["selector"]["matchLabels"],
        "PodDisruptionBudget",
    );

    let hpa = get(&all, "HorizontalPodAutoscaler/attache");
    assert_eq!(str_of(&hpa["apiVersion"]), "autoscaling/v2");
    let target = &hpa["spec"]["scaleTargetRef"];
    assert_eq!(
        (str_of(&target["kind"]), str_of(&target["name"])),
        ("Deployment", "attache")
    );
    let metric = &hpa["spec"]["metrics"][0]["resource"];
    assert_eq!(str_of(&metric["name"]), "cpu");
    assert_eq!(str_of(&metric["target"]["type"]), "Utilization");
    // The autoscaler owns the replica count; the budget never takes the last pods away.
    assert!(deployment["spec"]["replicas"].is_null());
    let min = hpa["spec"]["minReplicas"].as_u64().unwrap();
    let max_unavailable = pdb["spec"]["maxUnavailable"].as_u64().unwrap();
    assert!(
        min >= 2 && max_unavailable < min,
        "min {min}, maxUnavailable {max_unavailable}"
    );
    let rolling = &deployment["spec"]["strategy"]["rollingUpdate"];
    assert_eq!(rolling["maxUnavailable"].as_u64(), Some(0));
}

#[test]
fn the_model_configmap_carries_the_default_model_file_the_pods_serve() {
    let all = objects();
    let deployment = get(&all, "Deployment/attache");
    let c = container(deployment);
    let model_path = env_value(c, "ATTACHE_MODEL");
    let dir = env_value(c, "ATTACHE_MODEL_DIR");
    let (mount_dir, file) = model_path.rsplit_once('/').unwrap();
    assert_eq!(mount_dir, dir);

    let mount = c["volumeMounts"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|m| str_of(&m["mountPath"]) == dir)
        .expect("a volume mounted at ATTACHE_MODEL_DIR");
    assert!(
        mount["subPath"].is_null(),
        "no subPath: updates must reach the pods"
    );
    let volume = deployment["spec"]["template"]["spec"]["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|v| v["name"] == mount["name"])
        .unwrap();
    let configmap = get(
        &all,
        &format!("ConfigMap/{}", str_of(&volume["configMap"]["name"])),
    );

    let bytes = std::fs::read(repo(&format!("models/{file}"))).unwrap();
    let stale = "deploy/k8s/model-configmap.yaml is stale: run deploy/k8s/model-configmap.sh";
    assert!(
        str_of(&configmap["binaryData"][file]) == base64(&bytes),
        "{stale}"
    );
    let sha = format!("{:x}", Sha256::digest(&bytes));
    let pod_annotations = &deployment["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(
        str_of(&pod_annotations["attache.dev/model-sha256"]),
        sha,
        "{stale}"
    );
    assert_eq!(
        str_of(&configmap["metadata"]["annotations"]["attache.dev/model-sha256"]),
        sha
    );
    // The file the pods get is a model attache can load.
    attache::model::Model::from_bytes(&bytes).unwrap();
}

/// Sends `n` Classify calls to `addr`, each must succeed.
fn classify_some(addr: &str, n: usize) {
    use attache::proto::{classifier_client::ClassifierClient, ClassifyRequest};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut client = ClassifierClient::connect(format!("http://{addr}"))
            .await
            .unwrap();
        for i in 0..n {
            let request = ClassifyRequest {
                id: i.to_string(),
                text: format!("The ministers agreed to expand trade, case {i}."),
                ..Default::default()
            };
            client.classify(request).await.unwrap();
        }
    });
}

/// The value after `flag` in `args`.
fn flag_value<'a>(args: &'a [String], flag: &str) -> &'a str {
    let i = args
        .iter()
        .position(|a| a == flag)
        .unwrap_or_else(|| panic!("no {flag}"));
    &args[i + 1]
}

fn assert_flags_exist(args: &[String], sub: &str) {
    let help = help(sub);
    for a in args.iter().filter(|a| a.starts_with("--")) {
        assert!(has_flag(&help, a), "`attache {sub}` has no {a}");
    }
}

#[test]
fn sharded_training_jobs_train_one_shard_per_index_and_merge_them_all() {
    let all = objects();
    let shards = get(&all, "Job/attache-train-shards");
    assert_eq!(str_of(&shards["spec"]["completionMode"]), "Indexed");
    let n = shards["spec"]["completions"].as_u64().unwrap();
    assert!(n >= 2 && shards["spec"]["parallelism"].as_u64().unwrap() <= n);
    let pod = &shards["spec"]["template"]["spec"];
    assert_eq!(str_of(&pod["restartPolicy"]), "Never");
    let train = strings(&pod["containers"][0]["args"]);
    assert_eq!(train[0], "train");
    assert_flags_exist(&train, "train");
    let index = "$(JOB_COMPLETION_INDEX)";
    let data = flag_value(&train, "--data");
    let out = flag_value(&train, "--out");
    assert!(data.contains(index) && out.contains(index), "{train:?}");
    // Unpruned shards: pruning belongs to the merge, on the summed frequencies.
    for prune in [
        "--min-df",
        "--max-df",
        "--max-features",
        "--idf",
        "--config",
    ] {
        assert!(
            !train.iter().any(|a| a == prune),
            "shards must not use {prune}"
        );
    }

    let merge_job = get(&all, "Job/attache-train-merge");
    let mpod = &merge_job["spec"]["template"]["spec"];
    let merge = strings(&mpod["initContainers"][0]["args"]);
    assert_eq!(merge[0], "merge");
    assert_flags_exist(&merge, "merge");
    let inputs: Vec<&String> = merge[1..]
        .iter()
        .take_while(|a| !a.starts_with("--"))
        .collect();
    let want: Vec<String> = (0..n).map(|i| out.replace(index, &i.to_string())).collect();
    assert_eq!(
        inputs,
        want.iter().collect::<Vec<_>>(),
        "the merge takes every shard"
    );
    assert_eq!(flag_value(&merge, "--id"), flag_value(&train, "--id"));
    let merged = flag_value(&merge, "--out");

    let eval = strings(&mpod["containers"][0]["args"]);
    assert_eq!(eval[0], "eval");
    assert_flags_exist(&eval, "eval");
    assert_eq!(flag_value(&eval, "--model"), merged);

    // One shared volume, declared next to the shard Job.
    let claim =
        |pod: &Value| str_of(&pod["volumes"][0]["persistentVolumeClaim"]["claimName"]).to_owned();
    assert_eq!(claim(pod), claim(mpod));
    let pvc = get(&all, &format!("PersistentVolumeClaim/{}", claim(pod)));
    assert!(strings(&pvc["spec"]["accessModes"]).contains(&"ReadWriteMany".to_owned()));
}
