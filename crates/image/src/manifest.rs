//! Manifests, indexes and platforms (OCI and Docker schema 2 share one shape).
//!
//! Hand-written serde types rather than oci-spec's: they keep Docker media types and unknown
//! fields without fuss, and parsing must first sniff the media type to refuse schema 1 clearly.

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::media;
use std::collections::BTreeMap;
use std::fmt;

/// Largest manifest or index accepted (Docker and containerd use the same bound).
pub const MAX_MANIFEST_BYTES: usize = 4 << 20;

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl Descriptor {
    /// A plain descriptor.
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.into(),
            digest,
            size,
            platform: None,
            urls: None,
            annotations: None,
        }
    }
}

/// An OS/architecture pair with optional variant.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// The platform this process runs on, in OCI names.
    pub fn host() -> Platform {
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "aarch64" => ("arm64", Some("v8")),
            "arm" => ("arm", Some("v7")),
            "x86" => ("386", None),
            "powerpc64" => ("ppc64le", None),
            other => (other, None),
        };
        Platform {
            architecture: architecture.into(),
            os: "linux".into(),
            os_version: None,
            variant: variant.map(str::to_string),
        }
    }

    /// Parses `os/arch[/variant]` (e.g. `linux/arm64/v8`).
    pub fn parse(s: &str) -> Result<Platform> {
        let parts: Vec<&str> = s.split('/').collect();
        if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.is_empty()) {
            return Err(Error::Config {
                what: format!("platform {s:?}"),
                reason: "expected os/arch[/variant]".into(),
            });
        }
        Ok(Platform {
            os: parts[0].into(),
            architecture: parts[1].into(),
            os_version: None,
            variant: parts.get(2).map(|v| v.to_string()),
        })
    }

    /// Whether an index entry's platform satisfies this wanted one (a missing wanted variant
    /// matches any; arm64's variant defaults to v8).
    pub fn matches(&self, other: &Platform) -> bool {
        let norm = |p: &Platform| match (p.architecture.as_str(), p.variant.as_deref()) {
            ("arm64", None) => Some("v8".to_string()),
            (_, v) => v.map(str::to_string),
        };
        self.os == other.os
            && self.architecture == other.architecture
            && (self.variant.is_none() || norm(self) == norm(other))
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// An image manifest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// An image index / manifest list.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Index {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl Index {
    /// The manifest for `wanted`, or an error listing what is available.
    pub fn select(&self, wanted: &Platform, reference: &str) -> Result<&Descriptor> {
        self.manifests
            .iter()
            .filter(|d| media::is_manifest(&d.media_type))
            .find(|d| d.platform.as_ref().is_some_and(|p| wanted.matches(p)))
            .ok_or_else(|| Error::NoMatchingPlatform {
                reference: reference.into(),
                wanted: wanted.to_string(),
                available: self
                    .manifests
                    .iter()
                    .filter_map(|d| d.platform.as_ref().map(Platform::to_string))
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

/// A parsed manifest or index.
// Short-lived values parsed and matched at once: boxing would only add noise.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Document {
    Manifest(Manifest),
    Index(Index),
}

impl Document {
    /// Media type of the document (from the body, else the transport's Content-Type).
    pub fn media_type(&self) -> &str {
        match self {
            Document::Manifest(m) => m.media_type.as_deref().unwrap_or(media::OCI_MANIFEST),
            Document::Index(i) => i.media_type.as_deref().unwrap_or(media::OCI_INDEX),
        }
    }
}

#[derive(serde::Deserialize)]
struct Sniff {
    #[serde(rename = "schemaVersion")]
    schema_version: Option<u32>,
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
    manifests: Option<serde::de::IgnoredAny>,
    layers: Option<serde::de::IgnoredAny>,
}

/// Parses a manifest or index, refusing schema 1, unknown media types and oversized documents.
/// `content_type` is the registry's Content-Type (or a descriptor's media type), if any.
pub fn parse_document(
    bytes: &[u8],
    content_type: Option<&str>,
    reference: &str,
) -> Result<Document> {
    let bad = |reason: String| Error::InvalidDocument {
        what: format!("manifest of {reference}"),
        reason,
    };
    if bytes.len() > MAX_MANIFEST_BYTES {
        return Err(bad(format!(
            "{} bytes is over the {MAX_MANIFEST_BYTES}-byte limit",
            bytes.len()
        )));
    }
    let sniff: Sniff = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
    let ct = content_type.map(|c| c.split(';').next().unwrap_or(c).trim());
    if sniff.schema_version == Some(1)
        || ct.is_some_and(|c| c == media::DOCKER_SCHEMA1 || c == media::DOCKER_SCHEMA1_SIGNED)
    {
        return Err(Error::Schema1 {
            reference: reference.into(),
        });
    }
    let mt = sniff
        .media_type
        .clone()
        .or_else(|| {
            ct.filter(|c| *c != "application/json" && !c.is_empty())
                .map(str::to_string)
        })
        .unwrap_or_else(|| {
            if sniff.manifests.is_some() {
                media::OCI_INDEX.into()
            } else {
                media::OCI_MANIFEST.into()
            }
        });
    if media::is_index(&mt)
        || (sniff.manifests.is_some() && sniff.layers.is_none() && mt == media::OCI_INDEX)
    {
        let mut i: Index = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        i.media_type.get_or_insert(mt);
        Ok(Document::Index(i))
    } else if media::is_manifest(&mt) {
        let mut m: Manifest = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        m.media_type.get_or_insert(mt);
        Ok(Document::Manifest(m))
    } else {
        Err(Error::UnsupportedMediaType {
            media_type: mt,
            context: format!("manifest of {reference}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_matching() {
        let arm = Platform::parse("linux/arm64").expect("p");
        let arm_v8 = Platform::parse("linux/arm64/v8").expect("p");
        assert!(arm.matches(&arm_v8));
        assert!(arm_v8.matches(&arm));
        assert!(!Platform::parse("linux/arm/v6")
            .expect("p")
            .matches(&Platform::parse("linux/arm/v7").expect("p")));
        assert!(Platform::parse("linux").is_err());
    }

    #[test]
    fn refuses_schema1_unknown_and_huge() {
        let s1 = br#"{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]}"#;
        assert!(matches!(
            parse_document(s1, None, "r"),
            Err(Error::Schema1 { .. })
        ));
        let unknown = br#"{"schemaVersion":2,"mediaType":"application/x-weird","layers":[]}"#;
        let e = parse_document(unknown, None, "r").expect_err("unknown");
        assert!(e.to_string().contains("application/x-weird"), "{e}");
        let huge = vec![b' '; MAX_MANIFEST_BYTES + 1];
        assert!(parse_document(&huge, None, "r")
            .expect_err("huge")
            .to_string()
            .contains("limit"));
    }
}
