//! The assembled engine: configuration, paths, database, image store, event bus and the live
//! container and exec registries. Cheap to clone (one `Arc`).

use crate::config::DaemonConfig;
use crate::containers::Registry;
use crate::error::{Error, Result};
use crate::events::EventBus;
use crate::exec::ExecRegistry;
use crate::paths::Paths;
use crate::store::Store;
use std::sync::Arc;

/// Everything the daemon serves from.
#[derive(Clone, Debug)]
pub struct Engine(Arc<Inner>);

/// The engine's parts; reached through `Deref` on [`Engine`].
#[derive(Debug)]
pub struct Inner {
    pub config: DaemonConfig,
    pub paths: Paths,
    pub store: Store,
    pub images: berth_image::store::ImageStore,
    pub events: EventBus,
    pub containers: Registry,
    pub execs: ExecRegistry,
    pub volumes: crate::volumes::VolumeState,
    pub networks: crate::networks::Networks,
    pub started_at: std::time::SystemTime,
}

impl std::ops::Deref for Engine {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl Engine {
    /// Opens the engine on a validated configuration: creates the directories, opens the
    /// database (running migrations) and the image store, loads the container records and
    /// re-adopts the containers whose monitors are still running.
    pub async fn open(config: DaemonConfig) -> Result<Engine> {
        config.validate()?;
        let paths = Paths::new(&config.data_root, &config.exec_root);
        for d in [
            paths.data_root.clone(),
            paths.exec_root.clone(),
            paths.data_root.join("containers"),
            paths.exec_root.join("c"),
            paths.exec_root.join("x"),
        ] {
            std::fs::create_dir_all(&d)
                .map_err(|e| Error::internal(format!("creating {}", d.display()), e))?;
        }
        let store = Store::open(&paths.database())?;
        let images = berth_image::store::ImageStore::open(paths.image_root(), None)?;
        // No load, pull or save runs yet: whatever they left is from a crash.
        match images.remove_leftovers() {
            Ok(paths) => {
                for p in paths {
                    tracing::info!(path = %p.display(), "removed what an interrupted image operation left");
                }
            }
            Err(e) => tracing::warn!("removing what interrupted image operations left: {e}"),
        }
        let networks = crate::networks::Networks::open(&config, &store).await?;
        let engine = Engine(Arc::new(Inner {
            config,
            paths,
            store,
            images,
            events: EventBus::default(),
            containers: Registry::default(),
            execs: ExecRegistry::default(),
            volumes: Default::default(),
            networks,
            started_at: std::time::SystemTime::now(),
        }));
        engine.restore().await?;
        engine.volumes_restore()?;
        Ok(engine)
    }
}

impl Engine {
    /// Called when the daemon stops. With live-restore (the default) containers keep running
    /// under their monitors and are re-adopted by the next daemon; without it they are stopped.
    pub async fn shutdown(&self) {
        if !self.config.live_restore {
            for c in self.containers.all() {
                if c.record().state.status.is_live() {
                    let _ = self
                        .container_stop(&c.id, None, Some(self.config.shutdown_timeout as i64))
                        .await;
                }
            }
        }
    }
}
