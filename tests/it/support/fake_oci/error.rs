//! Registry errors in the wire shape `{"errors":[{code,message,detail}]}`
//! (https://github.com/opencontainers/distribution-spec/blob/main/spec.md#error-codes).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// One error, answered as a one-element `errors` list.
#[derive(Clone, Debug, PartialEq)]
pub struct OciError {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub detail: Value,
    /// Extra response headers (e.g. `WWW-Authenticate`, `Range`).
    pub headers: Vec<(String, String)>,
}

impl OciError {
    pub fn new(status: u16, code: &str, message: &str, detail: Value) -> OciError {
        OciError {
            status,
            code: code.into(),
            message: message.into(),
            detail,
            headers: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> OciError {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn digest_invalid(detail: impl Into<String>) -> OciError {
        OciError::new(
            400,
            "DIGEST_INVALID",
            "provided digest did not match uploaded content",
            Value::String(detail.into()),
        )
    }

    pub fn blob_unknown(digest: &str) -> OciError {
        OciError::new(
            404,
            "BLOB_UNKNOWN",
            "blob unknown to registry",
            Value::String(digest.into()),
        )
    }

    pub fn blob_upload_unknown() -> OciError {
        OciError::new(
            404,
            "BLOB_UPLOAD_UNKNOWN",
            "blob upload unknown to registry",
            Value::Null,
        )
    }

    pub fn blob_upload_invalid(detail: &str) -> OciError {
        OciError::new(
            404,
            "BLOB_UPLOAD_INVALID",
            "blob upload invalid",
            Value::String(detail.into()),
        )
    }

    /// 404 `MANIFEST_UNKNOWN`; `detail {"Tag": …}` for a tag as
    /// distribution 2.8 answers (docs/registries.md#errors).
    pub fn manifest_unknown(reference: &str) -> OciError {
        let detail = if reference.contains(':') {
            Value::String(reference.into())
        } else {
            json!({ "Tag": reference })
        };
        OciError::new(404, "MANIFEST_UNKNOWN", "manifest unknown", detail)
    }

    pub fn name_unknown(repo: &str) -> OciError {
        OciError::new(
            404,
            "NAME_UNKNOWN",
            "repository name not known to registry",
            json!({ "name": repo }),
        )
    }

    pub fn name_invalid(repo: &str) -> OciError {
        OciError::new(
            400,
            "NAME_INVALID",
            "invalid repository name",
            json!({ "name": repo }),
        )
    }

    pub fn unsupported() -> OciError {
        OciError::new(
            405,
            "UNSUPPORTED",
            "The operation is unsupported.",
            Value::Null,
        )
    }

    pub fn denied(message: &str) -> OciError {
        OciError::new(403, "DENIED", message, Value::Null)
    }

    pub fn body(&self) -> Value {
        json!({ "errors": [ { "code": self.code, "message": self.message, "detail": self.detail } ] })
    }
}

impl IntoResponse for OciError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self.body()).expect("error JSON");
        let mut resp = (status, body).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        for (k, v) in &self.headers {
            if let (Ok(k), Ok(v)) = (
                header::HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_str(v),
            ) {
                h.append(k, v);
            }
        }
        resp
    }
}

/// A refusal a profile configures: status plus error code (e.g. GCR's
/// 400 `GOOGLE_MANIFEST_DANGLING_TAG`, Docker Hub's 403 `DENIED`).
#[derive(Clone, Debug, PartialEq)]
pub struct Refusal {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl Refusal {
    pub fn new(status: u16, code: &str, message: &str) -> Refusal {
        Refusal {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn to_error(&self, detail: Value) -> OciError {
        OciError::new(self.status, &self.code, &self.message, detail)
    }
}
