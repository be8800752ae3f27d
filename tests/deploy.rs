//! The deployment files agree with the binary and with each other: docker-compose.yml (three
//! replicas behind nginx, Prometheus), the nginx configuration rendered from its template, the
//! rolling-reload script, and the Kubernetes manifests in deploy/k8s. Commands, ports,
//! environment variables and probes use flags and variables that `attache` really has, and the
//! health checks succeed against a running server. No Docker engine or cluster runs on our
//! machines: `.ci/run` additionally validates the compose file with the real Compose binary,
//! and deploy/k8s/validate.sh the manifests against the Kubernetes API schemas.

#[path = "deploy/compose.rs"]
mod compose;
#[path = "deploy/k8s.rs"]
mod k8s;
#[path = "deploy/nginx.rs"]
mod nginx;
#[path = "deploy/support.rs"]
mod support;
