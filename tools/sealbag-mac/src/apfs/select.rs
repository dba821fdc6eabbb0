//! Choosing a volume of the container: by name, role or index, or the
//! default (the `Data` role volume, else the only one, else `System`).

use super::container::{role_name, VolumeRaw};
use super::ApfsError;

/// Which volume of the container to read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum VolumeSelector {
    /// The `Data` role volume if there is one; else the only volume; else
    /// the `System` role volume if there is exactly one; else an error.
    #[default]
    Default,
    /// By name (exact, then without regard to case), role (`data`,
    /// `system`…) or index in the container, in that order.
    Named(String),
}

impl VolumeSelector {
    /// Parses `--volume`: empty means the default.
    pub fn parse(text: Option<&str>) -> Self {
        match text {
            None | Some("") => VolumeSelector::Default,
            Some(t) => VolumeSelector::Named(t.to_string()),
        }
    }
}

fn list_volumes(volumes: &[(u32, u64, VolumeRaw)]) -> String {
    volumes
        .iter()
        .map(|(i, _, v)| format!("{i}: {:?} ({})", v.sb.volume_name, role_name(v.role)))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn choose(
    volumes: Vec<(u32, u64, VolumeRaw)>,
    selector: &VolumeSelector,
) -> Result<(u32, VolumeRaw), ApfsError> {
    let available = list_volumes(&volumes);
    let pick = match selector {
        VolumeSelector::Default => {
            let data: Vec<usize> = (0..volumes.len())
                .filter(|&i| role_name(volumes[i].2.role) == "data")
                .collect();
            let system: Vec<usize> = (0..volumes.len())
                .filter(|&i| role_name(volumes[i].2.role) == "system")
                .collect();
            match (data.as_slice(), system.as_slice(), volumes.len()) {
                ([one], _, _) => Some(*one),
                (_, _, 1) => Some(0),
                ([], [one], _) => Some(*one),
                (_, _, 0) => {
                    return Err(ApfsError::NoSuchVolume {
                        wanted: "any".into(),
                        available: "no volumes".into(),
                    })
                }
                _ => return Err(ApfsError::Ambiguous { available }),
            }
        }
        VolumeSelector::Named(want) => volumes
            .iter()
            .position(|(_, _, v)| v.sb.volume_name == *want)
            .or_else(|| {
                volumes
                    .iter()
                    .position(|(_, _, v)| v.sb.volume_name.eq_ignore_ascii_case(want))
            })
            .or_else(|| {
                let roles: Vec<usize> = (0..volumes.len())
                    .filter(|&i| role_name(volumes[i].2.role).eq_ignore_ascii_case(want))
                    .collect();
                (roles.len() == 1).then(|| roles[0])
            })
            .or_else(|| {
                let n: u32 = want.parse().ok()?;
                volumes.iter().position(|(i, _, _)| *i == n)
            }),
    };
    let wanted = match selector {
        VolumeSelector::Default => "default".to_string(),
        VolumeSelector::Named(w) => w.clone(),
    };
    let i = pick.ok_or(ApfsError::NoSuchVolume { wanted, available })?;
    let (index, _, raw) = volumes.into_iter().nth(i).ok_or(ApfsError::NoSuchVolume {
        wanted: "?".into(),
        available: String::new(),
    })?;
    Ok((index, raw))
}
