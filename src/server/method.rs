//! The gRPC methods the server knows, as a closed set: metric labels stay bounded whatever
//! paths clients send, and each method's treatment (load shedding, shutdown) is in one place.

/// A gRPC method served (or [`Method::Other`] for any unknown path).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// `attache.v1.Classifier/Classify`
    Classify,
    /// `attache.v1.Classifier/ClassifyBatch`
    ClassifyBatch,
    /// `attache.v1.Classifier/ClassifyStream`
    ClassifyStream,
    /// `attache.v1.Classifier/GetModelInfo`
    GetModelInfo,
    /// `attache.v1.ModelAdmin/ReloadModel`
    ReloadModel,
    /// `grpc.health.v1.Health/Check`
    HealthCheck,
    /// `grpc.health.v1.Health/Watch`
    HealthWatch,
    /// `grpc.reflection.v1.ServerReflection/ServerReflectionInfo`
    ReflectionV1,
    /// `grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo`
    ReflectionV1Alpha,
    /// Anything else (answered UNIMPLEMENTED by the router).
    Other,
}

/// When, during shutdown, a still-open response stream is ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Serving normally.
    Running,
    /// Shutdown began: no new calls; calls in flight may finish within the grace period.
    Draining,
    /// The grace period is over: streams still open are ended with UNAVAILABLE.
    Stopped,
}

impl Method {
    /// Every method, in metric order.
    pub const ALL: [Method; 10] = [
        Method::Classify,
        Method::ClassifyBatch,
        Method::ClassifyStream,
        Method::GetModelInfo,
        Method::ReloadModel,
        Method::HealthCheck,
        Method::HealthWatch,
        Method::ReflectionV1,
        Method::ReflectionV1Alpha,
        Method::Other,
    ];

    /// The method of a request path such as `/attache.v1.Classifier/Classify`.
    pub fn from_path(path: &str) -> Method {
        match path {
            "/attache.v1.Classifier/Classify" => Method::Classify,
            "/attache.v1.Classifier/ClassifyBatch" => Method::ClassifyBatch,
            "/attache.v1.Classifier/ClassifyStream" => Method::ClassifyStream,
            "/attache.v1.Classifier/GetModelInfo" => Method::GetModelInfo,
            "/attache.v1.ModelAdmin/ReloadModel" => Method::ReloadModel,
            "/grpc.health.v1.Health/Check" => Method::HealthCheck,
            "/grpc.health.v1.Health/Watch" => Method::HealthWatch,
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo" => Method::ReflectionV1,
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo" => {
                Method::ReflectionV1Alpha
            }
            _ => Method::Other,
        }
    }

    /// Position in [`Method::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The `method` label of metrics and logs.
    pub fn name(self) -> &'static str {
        match self {
            Method::Classify => "attache.v1.Classifier/Classify",
            Method::ClassifyBatch => "attache.v1.Classifier/ClassifyBatch",
            Method::ClassifyStream => "attache.v1.Classifier/ClassifyStream",
            Method::GetModelInfo => "attache.v1.Classifier/GetModelInfo",
            Method::ReloadModel => "attache.v1.ModelAdmin/ReloadModel",
            Method::HealthCheck => "grpc.health.v1.Health/Check",
            Method::HealthWatch => "grpc.health.v1.Health/Watch",
            Method::ReflectionV1 => "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            Method::ReflectionV1Alpha => {
                "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
            }
            Method::Other => "other",
        }
    }

    /// Health probes are never shed: an overloaded server is busy, not dead, and a probe
    /// failing under load would get it restarted exactly when it is needed most.
    pub fn sheddable(self) -> bool {
        !matches!(self, Method::HealthCheck | Method::HealthWatch)
    }

    /// For methods whose response is a stream: the shutdown phase that ends it. Watching
    /// health or reflecting is not work to wait for, so those end as soon as shutdown begins
    /// (a health watcher first receives NOT_SERVING); classification streams may finish
    /// within the grace period.
    pub fn stream_ends_at(self) -> Option<Phase> {
        match self {
            Method::ClassifyStream => Some(Phase::Stopped),
            Method::HealthWatch | Method::ReflectionV1 | Method::ReflectionV1Alpha => {
                Some(Phase::Draining)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_names_round_trip_and_unknown_paths_collapse_to_other() {
        for m in Method::ALL {
            assert_eq!(Method::ALL[m.index()], m);
            if m != Method::Other {
                assert_eq!(Method::from_path(&format!("/{}", m.name())), m);
            }
        }
        assert_eq!(Method::from_path("/x.Y/Z"), Method::Other);
    }
}
