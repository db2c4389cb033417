//! `serve`'s metrics: `leadrouter_api_requests_total{route, status}` (SPEC 8), where
//! `route` is the route template (`/api/v1/leads/{id}`), so the labels stay bounded.
//! Every route with every status its OpenAPI document lists is exported from the start,
//! at 0.
use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics::{counter, describe_counter};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use utoipa::openapi::OpenApi;

/// The `route` of requests no route matched (any path: not a label value).
pub const UNMATCHED: &str = "(unmatched)";

/// Installs the Prometheus recorder (once per process) and registers every series.
pub fn install(doc: &OpenApi) -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new().install_recorder()?;
    describe_counter!(
        "leadrouter_api_requests_total",
        "Admin API requests answered, by route template and status"
    );
    for (path, item) in doc.paths.paths.iter() {
        let ops = [&item.get, &item.post, &item.put, &item.delete, &item.patch];
        for op in ops.into_iter().flatten() {
            for status in op.responses.responses.keys() {
                counter!("leadrouter_api_requests_total", "route" => path.clone(), "status" => status.clone())
                    .increment(0);
            }
        }
    }
    Ok(handle)
}

/// Counts each request under its route template.
pub async fn count(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED.to_owned(), |m| m.as_str().to_owned());
    let resp = next.run(req).await;
    counter!("leadrouter_api_requests_total", "route" => route, "status" => resp.status().as_u16().to_string())
        .increment(1);
    resp
}
