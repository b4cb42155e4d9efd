import Metrics
import Prometheus
import Synchronization

/// The process's Prometheus registry, behind swift-metrics.
///
/// `MetricsSystem.bootstrap` may run once per process; the first caller installs the factory
/// and everyone (gateway, worker, tests with several of each) shares the registry.
public enum PrometheusExport {
    private static let installed: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // Request latency: an LLM call is 0.1–30 s, a cache hit a millisecond.
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(250), .milliseconds(500),
            .seconds(1), .seconds(2), .seconds(5), .seconds(10), .seconds(30), .seconds(60),
        ]
        // Value histograms hold confidence scores, 0–1.
        factory.defaultValueHistogramBuckets = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0]
        MetricsSystem.bootstrap(factory)
        return registry
    }()

    /// Installs the exporter (idempotent) and returns the registry to serve.
    @discardableResult
    public static func bootstrap() -> PrometheusCollectorRegistry { installed }

    /// The text exposition format, version 0.0.4.
    public static func scrape() -> [UInt8] { installed.emitToBuffer() }
}
