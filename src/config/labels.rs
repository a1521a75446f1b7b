//! The labels Compose (v1 and v2 alike) puts on every container it creates:
//! a `compose = {...}` selector matches them, the fleet reads them.

pub const PROJECT: &str = "com.docker.compose.project";
pub const SERVICE: &str = "com.docker.compose.service";
pub const WORKING_DIR: &str = "com.docker.compose.project.working_dir";
pub const CONFIG_FILES: &str = "com.docker.compose.project.config_files";
