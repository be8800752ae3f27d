//! gRPC health (`grpc.health.v1`) for load balancers, compose and Kubernetes probes.
//!
//! The overall service `""` and `attache.v1.Classifier` report SERVING only while the server
//! serves a model and is not shutting down. A reload never changes them: a failed reload
//! leaves the old model serving.

use tonic::server::NamedService;
use tonic_health::pb::health_server::{Health as HealthRpc, HealthServer};
use tonic_health::server::HealthReporter;
use tonic_health::ServingStatus;

use crate::proto::classifier_server::ClassifierServer;

/// The service names whose health the server reports.
pub const SERVICES: [&str; 2] = [
    "",
    <ClassifierServer<super::service::ClassifierService> as NamedService>::NAME,
];

/// Sets the health the server reports.
#[derive(Clone, Debug)]
pub struct Health {
    reporter: HealthReporter,
}

impl Health {
    /// A reporter and its gRPC service, every service NOT_SERVING until [`Health::set`].
    pub async fn new() -> (Health, HealthServer<impl HealthRpc>) {
        let (reporter, service) = tonic_health::server::health_reporter();
        let health = Health { reporter };
        health.set(false).await;
        (health, service)
    }

    /// Reports every service as SERVING (`true`) or NOT_SERVING.
    pub async fn set(&self, serving: bool) {
        let status = if serving {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        for name in SERVICES {
            self.reporter.set_service_status(name, status).await;
        }
    }
}
