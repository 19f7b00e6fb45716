//! `profile write`: the site profile an installer deploys, so agents' shortcuts find the instance
//! and Region without anyone editing a file. The MSI runs it with its `INSTANCE`, `REGION` and
//! `PROFILE_URL` properties.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::catalog::{Catalog, Instance};
use crate::config::{PROFILE_FILE_NAME, Profile};
use crate::error::{Error, Location, Result};

/// What to write: empty strings count as not given (an installer property left blank).
#[derive(Debug, Default)]
pub(crate) struct Request {
    pub instance: Option<String>,
    pub region: Option<String>,
    /// The text of a profile to start from (already fetched), and where it came from.
    pub base: Option<(String, String)>,
}

/// The profile text: the base profile verbatim with the instance and Region added on top, or a
/// short profile of its own. It is validated as a profile before anything is written.
pub(crate) fn render(request: &Request, catalog: &Catalog, path: &Path) -> Result<String> {
    let instance = given(&request.instance);
    let region = given(&request.region);
    if let Some(instance) = instance {
        Instance::parse(instance).map_err(|m| Error::usage(format!("--instance: {m}")))?;
    }
    if let Some(region) = region.filter(|r| catalog.region(r).is_none()) {
        return Err(catalog.unknown_region(region));
    }
    let base = match &request.base {
        Some((text, origin)) => {
            let profile = Profile::parse(text, Path::new(origin))?;
            for (key, flag, in_base) in [
                ("instance", instance, profile.instance.as_deref()),
                ("region", region, profile.region.as_deref()),
            ] {
                if let (Some(flag), Some(in_base)) = (flag, in_base)
                    && flag != in_base
                {
                    return Err(Error::usage(format!(
                        "the profile from {origin} says {key} = {in_base:?} but {flag:?} was given; \
                         give one or the other"
                    )));
                }
            }
            Some((text.as_str(), origin.as_str(), profile))
        }
        None => None,
    };
    let mut text = String::from(
        "# connect-preflight site profile, written by `connect-preflight profile write`.\n",
    );
    if let Some((_, origin, _)) = &base {
        text.push_str(&format!("# Based on {origin}.\n"));
    } else {
        text.push_str(
            "# Every setting is described in profile.sample.toml: beside the executable on Windows,\n\
             # in /usr/share/doc/connect-preflight/ from the Linux packages.\n",
        );
    }
    let in_base = |key: &str| {
        base.as_ref().is_some_and(|(_, _, p)| match key {
            "instance" => p.instance.is_some(),
            _ => p.region.is_some(),
        })
    };
    for (key, value) in [("instance", instance), ("region", region)] {
        if let Some(value) = value.filter(|_| !in_base(key)) {
            // A JSON string is a valid TOML basic string.
            let quoted = serde_json::to_string(value).map_err(|e| Error::Other(e.into()))?;
            text.push_str(&format!("{key} = {quoted}\n"));
        }
    }
    if let Some((base_text, _, _)) = &base {
        text.push('\n');
        text.push_str(base_text);
        if !base_text.ends_with('\n') {
            text.push('\n');
        }
    }
    let written = Profile::parse(&text, path)?;
    let Some(final_region) = written.region else {
        return Err(Error::usage(
            "the profile would name no Region: give --region, or a --from profile that has one",
        ));
    };
    if catalog.region(&final_region).is_none() {
        return Err(Error::bad_input(
            Location::file(path),
            format!("region: {}", catalog.unknown_region(&final_region)),
        ));
    }
    Ok(text)
}

/// An installer's property left blank is not given.
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// Where the profile goes by default: beside the executable, the first place the tool looks.
pub(crate) fn default_path() -> Result<PathBuf> {
    let exe = std::env::current_exe().map_err(|e| Error::Other(e.into()))?;
    let dir = exe
        .parent()
        .ok_or_else(|| Error::usage("the executable's folder is unknown; give --output FILE"))?;
    Ok(dir.join(PROFILE_FILE_NAME))
}

/// Fetches the base profile (an https URL or a local file), renders, and writes atomically. An
/// existing profile is replaced only with `force`.
pub(crate) fn write(
    instance: Option<String>,
    region: Option<String>,
    from: Option<&str>,
    path: &Path,
    force: bool,
) -> Result<String> {
    if path.exists() && !force {
        return Err(Error::usage(format!(
            "{} already exists; pass --force to replace it",
            path.display()
        )));
    }
    let from = from.map(str::trim).filter(|f| !f.is_empty());
    let base = from
        .map(|from| {
            crate::ranges::update::fetch(from, Duration::from_secs(30))
                .map(|t| (t, from.to_owned()))
        })
        .transpose()?;
    let request = Request {
        instance,
        region,
        base,
    };
    let text = render(&request, &Catalog::embedded(), path)?;
    crate::output::write_atomically(path, text.as_bytes())?;
    Ok(format!("wrote the site profile {}\n", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(instance: &str, region: &str, base: Option<&str>) -> Request {
        Request {
            instance: Some(instance.to_owned()),
            region: Some(region.to_owned()),
            base: base.map(|b| (b.to_owned(), "https://intranet.example/p.toml".to_owned())),
        }
    }

    fn parse(text: &str) -> Profile {
        Profile::parse(text, Path::new("p.toml")).unwrap()
    }

    #[test]
    fn instance_and_region_make_a_valid_profile() {
        let catalog = Catalog::embedded();
        let text = render(
            &request("acme", "eu-central-1", None),
            &catalog,
            Path::new("p.toml"),
        )
        .unwrap();
        let profile = parse(&text);
        assert_eq!(profile.instance.as_deref(), Some("acme"));
        assert_eq!(profile.region.as_deref(), Some("eu-central-1"));
    }

    #[test]
    fn blank_properties_count_as_not_given() {
        let catalog = Catalog::embedded();
        let text = render(
            &request("", "eu-central-1", None),
            &catalog,
            Path::new("p.toml"),
        )
        .unwrap();
        assert_eq!(parse(&text).instance, None);
        let err = render(&request("acme", " ", None), &catalog, Path::new("p.toml")).unwrap_err();
        assert!(err.to_string().contains("no Region"), "{err}");
    }

    #[test]
    fn an_unknown_region_or_a_bad_instance_is_refused() {
        let catalog = Catalog::embedded();
        let err = render(
            &request("acme", "mars-north-1", None),
            &catalog,
            Path::new("p.toml"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown Region"), "{err}");
        let err = render(
            &request("not an alias!", "eu-central-1", None),
            &catalog,
            Path::new("p.toml"),
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("--instance"), "{err}");
    }

    #[test]
    fn a_base_profile_is_kept_verbatim_with_the_instance_added() {
        let catalog = Catalog::embedded();
        let base = "# site notes\nregion = \"eu-west-2\"\nwith = [\"saml\"]\n\n[thresholds]\nrtt_ms = 250\n";
        let text = render(
            &request("acme", "", Some(base)),
            &catalog,
            Path::new("p.toml"),
        )
        .unwrap();
        assert!(text.contains(base));
        let profile = parse(&text);
        assert_eq!(profile.instance.as_deref(), Some("acme"));
        assert_eq!(profile.region.as_deref(), Some("eu-west-2"));
        assert!((profile.thresholds.rtt_ms - 250.0).abs() < f64::EPSILON);
    }

    #[test]
    fn a_base_profile_that_disagrees_or_is_malformed_is_refused() {
        let catalog = Catalog::embedded();
        let err = render(
            &request("acme", "eu-central-1", Some("region = \"eu-west-2\"\n")),
            &catalog,
            Path::new("p.toml"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("give one or the other"), "{err}");
        let err = render(
            &request("acme", "eu-central-1", Some("regoin = \"eu-west-2\"\n")),
            &catalog,
            Path::new("p.toml"),
        )
        .unwrap_err();
        assert_eq!(err.exit_code(), crate::error::ExitCode::BadInput);
    }

    #[test]
    fn an_existing_profile_is_replaced_only_with_force() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(PROFILE_FILE_NAME);
        std::fs::write(&path, "region = \"us-east-1\"\n").unwrap();
        let err = write(None, Some("eu-central-1".into()), None, &path, false).unwrap_err();
        assert!(err.to_string().contains("--force"), "{err}");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "region = \"us-east-1\"\n"
        );
        write(None, Some("eu-central-1".into()), None, &path, true).unwrap();
        let profile = Profile::read(&path).unwrap();
        assert_eq!(profile.region.as_deref(), Some("eu-central-1"));
    }
}
