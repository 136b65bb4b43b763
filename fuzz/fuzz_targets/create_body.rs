//! `POST /containers/create` bodies into the engine's create path, without a daemon or root:
//! the API's JSON decoding (`json_body`, as the route does), the checks dockerd makes at
//! create (`verify_create`), then the merge with an image config, the process and the
//! conversions start makes to the runtime spec (`convert_create`). Any input may be refused;
//! none may panic, hang or allocate without bound.
#![no_main]

use berth_engine::containers::validate::{convert_create, verify_create, HostFacts};
use bollard_stubs::models::ContainerCreateBody;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let bytes = bytes::Bytes::copy_from_slice(data);
    let Ok(mut body) = berth_api_docker::routes::json_body::<ContainerCreateBody>(&bytes) else {
        return;
    };
    // A seccomp profile named by a path is read from the daemon's filesystem: not an input.
    if let Some(hc) = body.host_config.as_mut() {
        if let Some(opts) = hc.security_opt.as_mut() {
            opts.retain(|o| {
                let v = o.split_once(['=', ':']).map_or("", |(_, v)| v);
                !o.starts_with("seccomp")
                    || matches!(v, "" | "unconfined" | "builtin")
                    || v.trim_start().starts_with('{')
            });
        }
    }
    let host = HostFacts {
        cpus: vec![(0, 3)],
        mems: vec![(0, 0)],
        ncpu: 4,
    };
    if verify_create(&body, &host).is_err() {
        return;
    }
    let image = berth_image::config::ContainerConfig {
        cmd: Some(vec!["sh".into()]),
        env: Some(vec!["PATH=/usr/bin:/bin".into()]),
        ..Default::default()
    };
    let hc = body.host_config.clone().unwrap_or_default();
    let _ = convert_create(&body, &image, &hc);
});
