//! Registry credentials as Docker clients send them (`X-Registry-Auth`, the body of
//! `POST /auth`), and `docker login`'s check against the registry.

use crate::error::{Error, Result};
use crate::Engine;
use berth_image::registry::{Client, Credential, Credentials};

/// Docker's `AuthConfig` (decoded from base64 by the API layer). The daemon keeps nothing:
/// credentials live for one request, as with dockerd.
#[derive(Clone, Default, serde::Deserialize)]
pub struct RegistryAuth {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    /// `user:pass` in base64; the API layer splits it into username and password.
    #[serde(default)]
    pub auth: String,
    #[serde(default)]
    pub serveraddress: String,
    #[serde(default)]
    pub identitytoken: String,
    #[serde(default)]
    pub registrytoken: String,
}

impl std::fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RegistryAuth({}@{}, ***)",
            self.username, self.serveraddress
        )
    }
}

impl RegistryAuth {
    /// The credential it carries, if any.
    pub fn credential(&self) -> Option<Credential> {
        if !self.identitytoken.is_empty() {
            Some(Credential::IdentityToken(self.identitytoken.clone()))
        } else if !self.username.is_empty() {
            Some(Credential::Basic {
                username: self.username.clone(),
                password: self.password.clone(),
            })
        } else {
            None
        }
    }
}

/// A registry host from what `docker login` sends as `serveraddress`: scheme, path and the
/// Docker Hub aliases removed (`https://index.docker.io/v1/` -> `docker.io`).
pub fn registry_host(server: &str) -> String {
    let s = server
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = s.split('/').next().unwrap_or("");
    match host {
        "" | "index.docker.io" | "registry-1.docker.io" | "docker.io" => {
            berth_image::reference::DOCKER_HUB.to_string()
        }
        h => h.to_string(),
    }
}

impl Engine {
    /// A registry client with the daemon's registry configuration (mirrors, insecure
    /// registries) and the request's credential for `registry`. The daemon's own
    /// `~/.docker/config.json` is never read, as with dockerd.
    pub(crate) fn registry_client(
        &self,
        registry: &str,
        auth: Option<&RegistryAuth>,
    ) -> Result<Client> {
        let mut creds = Credentials::none();
        if let Some(c) = auth.and_then(RegistryAuth::credential) {
            creds = creds.with(registry, c);
        }
        Client::new(self.config.registry_config(), creds).map_err(Error::Image)
    }

    /// `docker login`: checks the credentials against the registry. Refusal is
    /// `Unauthorized` with Docker's message.
    pub async fn image_auth(&self, auth: &RegistryAuth) -> Result<()> {
        let registry = registry_host(&auth.serveraddress);
        if auth.credential().is_none() {
            return Err(Error::InvalidArgument(
                "username and password (or identitytoken) are required".into(),
            ));
        }
        let client = self.registry_client(&registry, Some(auth))?;
        client.login(&registry).await.map_err(|e| match e {
            berth_image::Error::Auth { reason, .. } => Error::Unauthorized(reason),
            e => Error::Image(e),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses() {
        assert_eq!(registry_host("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(registry_host("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(registry_host("http://127.0.0.1:5000/"), "127.0.0.1:5000");
        assert_eq!(registry_host(""), "docker.io");
    }
}
