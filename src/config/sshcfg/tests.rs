use super::*;
use crate::config::tests::{TestResult, test_env};
use crate::config::{Inventory, Target, parse_str};

/// A temp home with `~/.ssh/config` = `ssh_config`, and the inventory `toml` parsed in it.
struct Fixture {
    home: tempfile::TempDir,
}

impl Fixture {
    fn new(ssh_config: &str) -> Result<Self, Box<dyn std::error::Error>> {
        let home = tempfile::tempdir()?;
        std::fs::create_dir_all(home.path().join(".ssh"))?;
        std::fs::write(home.path().join(".ssh/config"), ssh_config)?;
        Ok(Self { home })
    }

    fn home(&self) -> &Path {
        self.home.path()
    }

    fn env(&self) -> Env {
        test_env(self.home())
    }

    fn parse(&self, toml: &str) -> Result<Inventory, ConfigError> {
        parse_str(toml, &self.home().join("config.toml"), &self.env())
    }

    /// Endpoint and jumps of the only host, whose address is `address`.
    fn resolve(
        &self,
        address: &str,
    ) -> Result<(SshEndpoint, Vec<SshEndpoint>), Box<dyn std::error::Error>> {
        let inv = self.parse(&format!(
            "[[host]]\nname = \"h\"\naddress = \"{address}\"\n"
        ))?;
        ssh_target(&inv)
    }

    /// The error that resolving `address` must produce.
    fn resolve_err(&self, address: &str) -> Result<ConfigError, Box<dyn std::error::Error>> {
        match self.parse(&format!(
            "[[host]]\nname = \"h\"\naddress = \"{address}\"\n"
        )) {
            Ok(inv) => Err(format!("expected an error, got {inv:?}").into()),
            Err(err) => Ok(err),
        }
    }
}

fn ssh_target(
    inv: &Inventory,
) -> Result<(SshEndpoint, Vec<SshEndpoint>), Box<dyn std::error::Error>> {
    match &inv.hosts.first().ok_or("no host")?.target {
        Target::Ssh {
            endpoint, jumps, ..
        } => Ok((endpoint.clone(), jumps.clone())),
        other => Err(format!("expected an ssh target, got {other:?}").into()),
    }
}

/// (user, hostname, port) of each endpoint, for compact jump assertions.
fn hops(endpoints: &[SshEndpoint]) -> Vec<(String, String, u16)> {
    endpoints
        .iter()
        .map(|e| (e.user.clone(), e.hostname.clone(), e.port))
        .collect()
}

fn triple(user: &str, host: &str, port: u16) -> (String, String, u16) {
    (user.to_string(), host.to_string(), port)
}

#[test]
fn resolves_hostname_user_port_and_files() -> TestResult {
    let fx = Fixture::new(
        "\
Host web-1
HostName 192.0.2.10
User deploy
Port 2222
IdentityFile ~/.ssh/web_%r@%h:%p
IdentityFile %d/keys/%u-%n
UserKnownHostsFile ~/.ssh/fleet_hosts /srv/known/%h
StrictHostKeyChecking accept-new
ConnectTimeout 3

Host *
User fallback
IdentityFile ~/.ssh/common
",
    )?;
    let (ep, jumps) = fx.resolve("web-1")?;
    let home = fx.home();
    assert_eq!(
        ep,
        SshEndpoint {
            alias: "web-1".to_string(),
            hostname: "192.0.2.10".to_string(),
            port: 2222,
            user: "deploy".to_string(),
            identity_files: vec![
                home.join(".ssh/web_deploy@192.0.2.10:2222"),
                home.join("keys/alice-web-1"),
                // IdentityFile accumulates across matching blocks, like ssh.
                home.join(".ssh/common"),
            ],
            known_hosts_files: vec![
                home.join(".ssh/fleet_hosts"),
                PathBuf::from("/srv/known/192.0.2.10"),
                PathBuf::from("/etc/ssh/ssh_known_hosts"),
            ],
            strict_host_key_checking: StrictHostKeyChecking::AcceptNew,
            connect_timeout: Duration::from_secs(3),
            proxy_command: None,
            host_key_alias: None,
        }
    );
    assert!(jumps.is_empty());

    // The catch-all block still applies to other hosts.
    let (other, _) = fx.resolve("db.example.com")?;
    assert_eq!(other.user, "fallback");
    assert_eq!(other.hostname, "db.example.com");
    assert_eq!(other.port, 22);
    assert_eq!(other.identity_files, vec![home.join(".ssh/common")]);
    assert_eq!(other.strict_host_key_checking, StrictHostKeyChecking::Yes);
    assert_eq!(other.connect_timeout, Duration::from_secs(10));
    Ok(())
}

#[test]
fn first_obtained_value_wins_like_ssh() -> TestResult {
    let fx = Fixture::new(
        "\
Host *.prod
User first
StrictHostKeyChecking no
Host web.prod
User second
Port 2200
StrictHostKeyChecking yes
",
    )?;
    let (ep, _) = fx.resolve("web.prod")?;
    assert_eq!(ep.user, "first");
    assert_eq!(ep.port, 2200);
    assert_eq!(
        ep.strict_host_key_checking,
        StrictHostKeyChecking::AcceptNew
    );
    Ok(())
}

#[test]
fn strict_host_key_checking_values() -> TestResult {
    let cases = [
        ("yes", StrictHostKeyChecking::Yes),
        ("ask", StrictHostKeyChecking::Yes),
        ("accept-new", StrictHostKeyChecking::AcceptNew),
        ("no", StrictHostKeyChecking::AcceptNew),
        ("off", StrictHostKeyChecking::AcceptNew),
    ];
    for (value, expected) in cases {
        let fx = Fixture::new(&format!("Host a\n  StrictHostKeyChecking {value}\n"))?;
        let (ep, _) = fx.resolve("a")?;
        assert_eq!(ep.strict_host_key_checking, expected, "value {value}");
    }
    let fx = Fixture::new("Host a\n  StrictHostKeyChecking maybe\n")?;
    let err = fx.resolve_err("a")?;
    assert!(err.to_string().contains("\"maybe\""), "{err}");
    Ok(())
}

#[test]
fn known_hosts_none_and_global_override() -> TestResult {
    let fx = Fixture::new(
        "Host a\n  UserKnownHostsFile none\n  GlobalKnownHostsFile /etc/fleet_known\n",
    )?;
    let (ep, _) = fx.resolve("a")?;
    assert_eq!(
        ep.known_hosts_files,
        vec![
            PathBuf::from("/dev/null"),
            PathBuf::from("/etc/fleet_known")
        ]
    );
    Ok(())
}

#[test]
fn toml_user_and_port_override_ssh_config() -> TestResult {
    let fx = Fixture::new("Host web\n  HostName web.internal\n  User deploy\n  Port 2222\n")?;
    let inv = fx.parse(
        "[[host]]\nname = \"w\"\naddress = \"web\"\nuser = \"ops\"\nport = 2022\n\
         docker_socket = \"/run/user/1000/docker.sock\"\n",
    )?;
    let (ep, _) = ssh_target(&inv)?;
    assert_eq!(ep.user, "ops");
    assert_eq!(ep.port, 2022);
    // HostName still comes from ssh_config.
    assert_eq!(ep.hostname, "web.internal");
    assert!(matches!(
        &inv.hosts[0].target,
        Target::Ssh { docker_socket, .. } if docker_socket == "/run/user/1000/docker.sock"
    ));
    Ok(())
}

#[test]
fn hostname_token_expands_to_alias() -> TestResult {
    let fx = Fixture::new("Host *.lab\n  HostName %h.example.org\n")?;
    let (ep, _) = fx.resolve("box.lab")?;
    assert_eq!(ep.hostname, "box.lab.example.org");
    assert_eq!(ep.alias, "box.lab");
    Ok(())
}

#[test]
fn proxy_jump_single_hop_is_resolved_through_ssh_config() -> TestResult {
    let fx = Fixture::new(
        "\
Host web
HostName 10.0.0.5
ProxyJump bastion

Host bastion
HostName bastion.example.com
User jumper
Port 2200
IdentityFile ~/.ssh/bastion_key
ConnectTimeout 4
",
    )?;
    let (ep, jumps) = fx.resolve("web")?;
    assert_eq!(ep.hostname, "10.0.0.5");
    assert_eq!(jumps.len(), 1);
    let hop = &jumps[0];
    assert_eq!(hop.alias, "bastion");
    assert_eq!(hop.hostname, "bastion.example.com");
    assert_eq!(hop.user, "jumper");
    assert_eq!(hop.port, 2200);
    assert_eq!(hop.identity_files, vec![fx.home().join(".ssh/bastion_key")]);
    assert_eq!(hop.connect_timeout, Duration::from_secs(4));
    Ok(())
}

#[test]
fn proxy_jump_user_host_port_overrides_hop_config() -> TestResult {
    let fx = Fixture::new(
        "\
Host web
ProxyJump ops@bastion:2022
Host bastion
HostName 198.51.100.1
User ignored
Port 9999
",
    )?;
    let (_, jumps) = fx.resolve("web")?;
    assert_eq!(hops(&jumps), vec![triple("ops", "198.51.100.1", 2022)]);
    assert_eq!(jumps[0].alias, "bastion");
    Ok(())
}

#[test]
fn proxy_jump_chain_is_outermost_first() -> TestResult {
    let fx = Fixture::new(
        "\
Host web
ProxyJump outer,root@inner:2201,[2001:db8::1]:2202

Host outer
HostName outer.example.com
User edge
# the first hop's own ProxyJump applies, like `ssh -J`
ProxyJump gateway

Host inner
HostName 10.1.0.1
# later hops' own ProxyJump is ignored, like `ssh -J`
ProxyJump never-used

Host gateway
ProxyJump none
",
    )?;
    let (ep, jumps) = fx.resolve("web")?;
    assert_eq!(ep.hostname, "web");
    assert_eq!(
        hops(&jumps),
        vec![
            triple("alice", "gateway", 22),
            triple("edge", "outer.example.com", 22),
            triple("root", "10.1.0.1", 2201),
            triple("alice", "2001:db8::1", 2202),
        ]
    );
    Ok(())
}

#[test]
fn proxy_jump_none_disables_an_inherited_jump() -> TestResult {
    let fx = Fixture::new(
        "\
Host bastion
ProxyJump none
Host *
ProxyJump bastion
",
    )?;
    let (_, jumps) = fx.resolve("bastion")?;
    assert!(jumps.is_empty());
    let (_, jumps) = fx.resolve("web")?;
    assert_eq!(hops(&jumps), vec![triple("alice", "bastion", 22)]);
    Ok(())
}

#[test]
fn proxy_jump_loop_is_reported() -> TestResult {
    let fx = Fixture::new("Host *\n    ProxyJump bastion\n")?;
    let err = fx.resolve_err("web")?;
    let msg = err.to_string();
    assert!(
        msg.contains("ProxyJump loop: web -> bastion -> bastion"),
        "{msg}"
    );
    assert!(msg.contains("ProxyJump none"), "{msg}");
    Ok(())
}

#[test]
fn bad_proxy_jump_hops_are_rejected() -> TestResult {
    for (value, why) in [
        ("ops@:22", "empty host"),
        ("bastion:notaport", "invalid port"),
        ("a,none", "must be the only"),
        ("@bastion", "empty user"),
    ] {
        let fx = Fixture::new(&format!("Host web\n  ProxyJump {value}\n"))?;
        let err = fx.resolve_err("web")?;
        let msg = err.to_string();
        assert!(
            matches!(err, ConfigError::SshConfig { ref file, .. }
                if *file == fx.home().join(".ssh/config")),
            "{msg}"
        );
        assert!(msg.contains(why), "{value}: {msg}");
        assert!(msg.contains("host \"h\" (address \"web\")"), "{msg}");
    }
    Ok(())
}

#[test]
fn parse_hop_forms() -> TestResult {
    assert_eq!(
        parse_hop("ssh://me@host.example:2222")?,
        Hop {
            user: Some("me".to_string()),
            host: "host.example".to_string(),
            port: Some(2222)
        }
    );
    assert_eq!(
        parse_hop("fe80::1")?,
        Hop {
            user: None,
            host: "fe80::1".to_string(),
            port: None
        }
    );
    assert_eq!(
        parse_hop("[::1]")?,
        Hop {
            user: None,
            host: "::1".to_string(),
            port: None
        }
    );
    assert!(parse_hop("host:0").is_err());
    assert!(parse_hop("[::1").is_err());
    Ok(())
}

#[test]
fn broken_ssh_config_names_the_file() -> TestResult {
    let fx = Fixture::new("Host a\n  Port notanumber\n")?;
    let err = fx.resolve_err("a")?;
    let ssh_file = fx.home().join(".ssh/config");
    assert!(
        matches!(&err, ConfigError::SshConfig { file, message }
            if *file == ssh_file && message.contains("expected port number")),
        "{err:?}"
    );
    assert!(err.to_string().starts_with(&ssh_file.display().to_string()));
    Ok(())
}

#[test]
fn match_blocks_are_refused() -> TestResult {
    let fx = Fixture::new("Host a\n  User x\nMatch host b\n  User y\n")?;
    let err = fx.resolve_err("a")?;
    assert!(
        matches!(&err, ConfigError::SshConfig { message, .. } if message.contains("`Match`")),
        "{err:?}"
    );
    Ok(())
}

#[test]
fn unknown_directives_are_tolerated() -> TestResult {
    let fx = Fixture::new("Host a\n  SomeFutureOption yes\n  User bob\n")?;
    let (ep, _) = fx.resolve("a")?;
    assert_eq!(ep.user, "bob");
    Ok(())
}

#[test]
fn include_is_followed() -> TestResult {
    let fx = Fixture::new("Include fleet.d/*.conf\n")?;
    std::fs::create_dir_all(fx.home().join(".ssh/fleet.d"))?;
    std::fs::write(
        fx.home().join(".ssh/fleet.d/web.conf"),
        "Host web\n  HostName 203.0.113.7\n",
    )?;
    let (ep, _) = fx.resolve("web")?;
    assert_eq!(ep.hostname, "203.0.113.7");
    Ok(())
}

#[test]
fn proxy_command_tokens_are_expanded() -> TestResult {
    let fx = Fixture::new(
        "Host web\n  HostName 10.0.0.5\n  User ops\n  Port 2200\n  \
         ProxyCommand ssh -W \"%h:%p\" -l %r jump # for %n, 100%%\n",
    )?;
    let (ep, jumps) = fx.resolve("web")?;
    assert!(jumps.is_empty());
    assert_eq!(
        ep.proxy_command.as_deref(),
        Some("ssh -W \"10.0.0.5:2200\" -l ops jump")
    );
    let fx = Fixture::new("Host web\n  ProxyCommand nc %h %p %n%% %r\n")?;
    let (ep, _) = fx.resolve("web")?;
    assert_eq!(ep.proxy_command.as_deref(), Some("nc web 22 web% alice"));
    let fx = Fixture::new("Host web\n  ProxyCommand nc %h %C\n")?;
    let err = fx.resolve_err("web")?.to_string();
    assert!(
        err.contains("unsupported token `%C` in ProxyCommand"),
        "{err}"
    );
    Ok(())
}

#[test]
fn names_unsafe_for_the_shell_are_refused_in_proxy_command() -> TestResult {
    let fx =
        Fixture::new("Host evil\n  HostName -oProxyCommand=x\nHost *\n  ProxyCommand nc %h %p\n")?;
    let err = fx.resolve_err("evil")?.to_string();
    assert!(err.contains("not safe to substitute"), "{err}");
    for user in ["o'neil", "x;id", "a b", "$(id)", "`id`", "x\\\"y"] {
        let fx = Fixture::new("Host *\n  ProxyCommand ssh -l %r -W %h:%p jump\n")?;
        let toml = format!(
            "[[host]]\nname = \"h\"\naddress = \"web\"\nuser = {}\n",
            toml_string(user)
        );
        let err = match fx.parse(&toml) {
            Ok(inv) => return Err(format!("{user}: accepted: {inv:?}").into()),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("user (%r)"), "{user}: {err}");
    }
    // Without a ProxyCommand such a user is only a login name.
    let fx = Fixture::new("")?;
    fx.parse("[[host]]\nname = \"h\"\naddress = \"web\"\nuser = \"o'neil\"\n")?;
    Ok(())
}

fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[test]
fn first_of_proxy_jump_or_proxy_command_wins_and_none_disables() -> TestResult {
    let fx = Fixture::new(
        "\
Host cmd-first
ProxyCommand nc %h %p
Host jump-first
ProxyJump bastion
Host none-first
ProxyCommand none
Host bastion
ProxyJump none
Host *
ProxyJump bastion
ProxyCommand never-used %h
",
    )?;
    let (ep, jumps) = fx.resolve("cmd-first")?;
    assert_eq!(ep.proxy_command.as_deref(), Some("nc cmd-first 22"));
    assert!(jumps.is_empty());
    let (ep, jumps) = fx.resolve("jump-first")?;
    assert_eq!(ep.proxy_command, None);
    assert_eq!(hops(&jumps), vec![triple("alice", "bastion", 22)]);
    let (ep, jumps) = fx.resolve("none-first")?;
    assert_eq!((ep.proxy_command, jumps.len()), (None, 0));
    // Both in one block: which line came first is lost, so refuse.
    let err = fx.resolve_err("other")?.to_string();
    assert!(
        err.contains("ProxyJump and ProxyCommand are both set"),
        "{err}"
    );
    assert!(err.contains("`Host *`"), "{err}");
    assert!(err.contains("config:11)"), "{err}");
    Ok(())
}

#[test]
fn only_the_first_hops_proxy_command_applies() -> TestResult {
    let fx = Fixture::new(
        "\
Host web
ProxyJump a,b
Host a
ProxyCommand nc %h %p
Host b
ProxyCommand never-used
",
    )?;
    let (ep, jumps) = fx.resolve("web")?;
    assert_eq!(ep.proxy_command, None);
    let commands: Vec<Option<&str>> = jumps.iter().map(|j| j.proxy_command.as_deref()).collect();
    assert_eq!(commands, vec![Some("nc a 22"), None]);
    Ok(())
}

#[test]
fn options_that_change_the_connection_are_refused() -> TestResult {
    for (line, named) in [
        ("RemoteCommand uptime", "RemoteCommand uptime"),
        ("ProxyUseFdpass yes", "ProxyUseFdpass"),
        ("CanonicalizeHostname yes", "CanonicalizeHostname"),
        ("Tunnel yes", "Tunnel"),
        ("AddressFamily inet6", "AddressFamily inet6"),
        ("KnownHostsCommand /bin/keys %H", "KnownHostsCommand"),
        ("RevokedHostKeys /etc/ssh/revoked", "RevokedHostKeys"),
        ("BindAddress 10.0.0.1", "BindAddress"),
        ("BindInterface eth1", "BindInterface"),
    ] {
        let fx = Fixture::new(&format!("# fleet\nHost web\n  User ops\n  {line}\n"))?;
        let err = fx.resolve_err("web")?.to_string();
        assert!(err.contains(&format!("`{named}")), "{line}: {err}");
        assert!(err.contains("`Host web`"), "{line}: {err}");
        assert!(err.contains("config:4)"), "{line}: {err}");
        assert!(err.contains("not supported"), "{line}: {err}");
    }
    let fx = Fixture::new("Host web\n  PermitLocalCommand yes\n  LocalCommand id\n")?;
    let err = fx.resolve_err("web")?.to_string();
    assert!(
        err.contains("LocalCommand` with `PermitLocalCommand yes"),
        "{err}"
    );
    Ok(())
}

#[test]
fn options_that_do_not_change_the_connection_are_accepted() -> TestResult {
    let fx = Fixture::new(
        "\
Host web
LocalCommand id
ControlMaster auto
ControlPath ~/.ssh/cm-%r@%h:%p
ControlPersist 10m
IPQoS lowdelay
CanonicalizeHostname no
AddressFamily any
RemoteCommand none
Tunnel no
",
    )?;
    let (ep, _) = fx.resolve("web")?;
    assert_eq!(ep.hostname, "web");
    Ok(())
}

#[test]
fn host_key_alias_is_kept_and_expands_percent_k() -> TestResult {
    let fx = Fixture::new(
        "Host web\n  HostName 10.0.0.5\n  Port 2200\n  HostKeyAlias web.prod\n  \
         UserKnownHostsFile ~/.ssh/known_%k\n",
    )?;
    let (ep, _) = fx.resolve("web")?;
    assert_eq!(ep.host_key_alias.as_deref(), Some("web.prod"));
    assert_eq!(ep.known_hosts_name(), "web.prod");
    assert_eq!(
        ep.known_hosts_files[0],
        fx.home().join(".ssh/known_web.prod")
    );
    let (other, _) = fx.resolve("db")?;
    assert_eq!(other.known_hosts_name(), "db");
    Ok(())
}

#[test]
fn unsupported_identity_token_is_an_error() -> TestResult {
    let fx = Fixture::new("Host a\n  IdentityFile ~/.ssh/%l\n")?;
    let err = fx.resolve_err("a")?;
    assert!(err.to_string().contains("unsupported token `%l`"), "{err}");
    Ok(())
}
