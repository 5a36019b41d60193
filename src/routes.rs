//! The route allow-list: method + path template to `Route`, with `matchit` doing the matching.
//!
//! Matching is exact on the normalised path; `HEAD` falls back to the `GET` route.

use std::sync::Arc;

use http::Method;

pub use crate::contract::RequestLimits;
use crate::model::PermissionKind;

/// Whether a route wants an `Idempotency-Key` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    /// No idempotency handling.
    None,
    /// Keys are accepted but not required.
    Optional,
    /// A request without a key is refused with `428`.
    Required,
}

/// One allowed route.
#[derive(Debug)]
pub struct Route {
    /// Its name (bounded by the config, safe as a metric label).
    pub name: Arc<str>,
    /// Its method.
    pub method: Method,
    /// Its path template, e.g. `/v1/reports/{id}`.
    pub template: String,
    /// The permission it requires.
    pub permission: Arc<str>,
    /// That permission's kind.
    pub kind: PermissionKind,
    /// The upstream's name.
    pub upstream: Arc<str>,
    /// The upstream's index in the snapshot.
    pub upstream_index: usize,
    /// Its idempotency setting.
    pub idempotency: Idempotency,
    /// What its responses may carry (`[routes.response]`); `None`: streamed untouched.
    pub response: Option<crate::contract::ResponseContract>,
    /// Why its answers pass unfiltered although data classes are configured
    /// (`[routes.response] passthrough`).
    pub passthrough: Option<Arc<str>>,
    /// The schema its request bodies must satisfy (`request_schema`).
    pub request_schema: Option<crate::contract::RequestSchema>,
    /// What one request body may be: its size (every body of the route) and, for a schema,
    /// its number of values.
    pub request_limits: RequestLimits,
    /// Announced on its answers when the route is deprecated.
    pub deprecation: Option<crate::model::Deprecation>,
    /// `X-Kwanus-Route` and `X-Kwanus-Permission` for the upstream, made once.
    pub headers: [http::HeaderValue; 2],
}

/// Why no route was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteMiss {
    /// No template matches the path.
    NotFound,
    /// A template matches, but not for this method; `allow` lists the methods that would.
    MethodNotAllowed {
        /// Value of the `Allow` header.
        allow: String,
    },
}

/// All routes of a snapshot.
#[derive(Default)]
pub struct RouteTable {
    router: matchit::Router<usize>,
    paths: Vec<PathEntry>,
    len: usize,
}

/// The routes that share one path template.
struct PathEntry {
    template: String,
    methods: Vec<Arc<Route>>,
    allow: String,
}

// === impl RouteTable ===

impl RouteTable {
    /// Adds a route; the error explains a template conflict or a duplicate method + path.
    pub fn insert(&mut self, route: Route) -> Result<(), String> {
        let route = Arc::new(route);
        if let Some(i) = self.paths.iter().position(|p| p.template == route.template) {
            let entry = &mut self.paths[i];
            if entry.methods.iter().any(|r| r.method == route.method) {
                return Err(format!(
                    "{} {} is already served by another route",
                    route.method, route.template
                ));
            }
            entry.methods.push(route);
            entry.allow = allow_header(&entry.methods);
        } else {
            self.router
                .insert(route.template.clone(), self.paths.len())
                .map_err(|e| format!("path template conflicts with another route: {e}"))?;
            self.paths.push(PathEntry {
                template: route.template.clone(),
                allow: allow_header(std::slice::from_ref(&route)),
                methods: vec![route],
            });
        }
        self.len += 1;
        Ok(())
    }

    /// Finds the route for `method` on the normalised `path`.
    pub fn find(&self, method: &Method, path: &str) -> Result<&Arc<Route>, RouteMiss> {
        let matched = self.router.at(path).map_err(|_| RouteMiss::NotFound)?;
        let entry = &self.paths[*matched.value];
        let by = |m: &Method| entry.methods.iter().find(|r| r.method == *m);
        let found = by(method).or_else(|| {
            if *method == Method::HEAD {
                by(&Method::GET)
            } else {
                None
            }
        });
        found.ok_or_else(|| RouteMiss::MethodNotAllowed {
            allow: entry.allow.clone(),
        })
    }

    /// How many routes there are.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Every route, by path template.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Route>> {
        self.paths.iter().flat_map(|p| &p.methods)
    }

    /// Whether there is no route.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl std::fmt::Debug for RouteTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteTable")
            .field("routes", &self.len)
            .finish()
    }
}

/// The `Allow` value for a set of routes: their methods, plus `HEAD` wherever `GET` is.
fn allow_header(routes: &[Arc<Route>]) -> String {
    let mut methods: Vec<&str> = routes.iter().map(|r| r.method.as_str()).collect();
    if methods.contains(&"GET") && !methods.contains(&"HEAD") {
        methods.push("HEAD");
    }
    methods.sort_unstable();
    methods.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(name: &str, method: Method, template: &str) -> Route {
        Route {
            headers: [
                http::HeaderValue::from_static("r"),
                http::HeaderValue::from_static("x"),
            ],
            name: name.into(),
            method,
            template: template.to_owned(),
            permission: "reports:read".into(),
            kind: PermissionKind::Read,
            upstream: "up".into(),
            upstream_index: 0,
            idempotency: Idempotency::None,
            response: None,
            passthrough: None,
            request_schema: None,
            request_limits: RequestLimits {
                max_bytes: 1024,
                max_values: 100,
            },
            deprecation: None,
        }
    }

    fn table() -> RouteTable {
        let mut t = RouteTable::default();
        for r in [
            route("get-report", Method::GET, "/v1/reports/{id}"),
            route("put-report", Method::PUT, "/v1/reports/{id}"),
            route("list", Method::GET, "/v1/reports"),
            route("run", Method::POST, "/v1/workflows/{name}/runs"),
        ] {
            t.insert(r).unwrap_or_else(|e| panic!("{e}"));
        }
        t
    }

    #[test]
    fn matches_exactly() {
        let t = table();
        let name = |m: Method, p: &str| t.find(&m, p).map(|r| r.name.to_string());
        assert_eq!(name(Method::GET, "/v1/reports/42"), Ok("get-report".into()));
        assert_eq!(name(Method::GET, "/v1/reports"), Ok("list".into()));
        assert_eq!(name(Method::POST, "/v1/workflows/x/runs"), Ok("run".into()));
        assert_eq!(
            name(Method::GET, "/v1/reports/42/"),
            Err(RouteMiss::NotFound)
        );
        assert_eq!(name(Method::GET, "/v1/reports/"), Err(RouteMiss::NotFound));
        assert_eq!(
            name(Method::GET, "/v1/reports/4/2"),
            Err(RouteMiss::NotFound)
        );
        assert_eq!(
            name(Method::GET, "/V1/reports/42"),
            Err(RouteMiss::NotFound)
        );
    }

    #[test]
    fn head_uses_get_and_405_lists_allow() {
        let t = table();
        let head = t
            .find(&Method::HEAD, "/v1/reports/42")
            .map(|r| r.name.to_string());
        assert_eq!(head, Ok("get-report".into()));
        assert_eq!(
            t.find(&Method::DELETE, "/v1/reports/42")
                .map(|r| r.name.to_string()),
            Err(RouteMiss::MethodNotAllowed {
                allow: "GET, HEAD, PUT".into()
            })
        );
        assert_eq!(
            t.find(&Method::GET, "/v1/workflows/x/runs")
                .map(|r| r.name.to_string()),
            Err(RouteMiss::MethodNotAllowed {
                allow: "POST".into()
            })
        );
    }

    #[test]
    fn duplicate_method_and_path_is_refused() {
        let mut t = table();
        let err = t.insert(route("again", Method::GET, "/v1/reports/{id}"));
        assert!(err.is_err());
    }
}
