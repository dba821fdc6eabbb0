//! Reading one registry key's values (`sealbag-win`'s policy key), with the
//! three advapi32 calls std does not wrap. Elsewhere than Windows there is
//! no registry: the key reads as absent.

/// One registry value, as far as a configuration needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistryValue {
    /// `REG_SZ` or `REG_EXPAND_SZ` (not expanded).
    Text(String),
    /// `REG_MULTI_SZ`.
    Texts(Vec<String>),
    /// `REG_DWORD` or `REG_QWORD`.
    Number(u64),
    /// Any other type, by its number.
    Other(u32),
}

/// The values of `HKEY_LOCAL_MACHINE\<subkey>` (64-bit view), by name;
/// `None` when the key does not exist. Errors say what failed.
pub fn read_policy_key(subkey: &str) -> Result<Option<Vec<(String, RegistryValue)>>, String> {
    imp::read(subkey)
}

#[cfg(not(windows))]
mod imp {
    pub fn read(_: &str) -> Result<Option<Vec<(String, super::RegistryValue)>>, String> {
        Ok(None)
    }
}

#[cfg(windows)]
#[allow(unsafe_code)]
mod imp {
    use super::RegistryValue;

    /// `HKEY_LOCAL_MACHINE` (winreg.h: `(HKEY)(ULONG_PTR)((LONG)0x80000002)`).
    const HKEY_LOCAL_MACHINE: isize = 0x8000_0002_u32 as i32 as isize;
    const KEY_READ: u32 = 0x0002_0019;
    const KEY_WOW64_64KEY: u32 = 0x0100;
    const ERROR_SUCCESS: i32 = 0;
    const ERROR_FILE_NOT_FOUND: i32 = 2;
    const ERROR_MORE_DATA: i32 = 234;
    const ERROR_NO_MORE_ITEMS: i32 = 259;
    const REG_SZ: u32 = 1;
    const REG_EXPAND_SZ: u32 = 2;
    const REG_DWORD: u32 = 4;
    const REG_MULTI_SZ: u32 = 7;
    const REG_QWORD: u32 = 11;
    /// More values than a policy key of ours can sensibly hold.
    const MAX_VALUES: u32 = 256;
    /// A value name is at most 16 383 characters.
    const NAME_CHARS: usize = 16_384;
    /// Largest value data read.
    const MAX_DATA: usize = 64 * 1024;

    #[link(name = "advapi32")]
    extern "system" {
        fn RegOpenKeyExW(
            key: isize,
            subkey: *const u16,
            options: u32,
            sam: u32,
            result: *mut isize,
        ) -> i32;
        fn RegEnumValueW(
            key: isize,
            index: u32,
            name: *mut u16,
            name_chars: *mut u32,
            reserved: *mut u32,
            kind: *mut u32,
            data: *mut u8,
            data_bytes: *mut u32,
        ) -> i32;
        fn RegCloseKey(key: isize) -> i32;
    }

    /// Closes the key when dropped.
    struct Key(isize);

    impl Drop for Key {
        fn drop(&mut self) {
            // SAFETY: self.0 is a key handle RegOpenKeyExW returned and nobody closed.
            unsafe {
                RegCloseKey(self.0);
            }
        }
    }

    pub fn read(subkey: &str) -> Result<Option<Vec<(String, RegistryValue)>>, String> {
        let wide: Vec<u16> = subkey.encode_utf16().chain(Some(0)).collect();
        let mut handle: isize = 0;
        // SAFETY: `wide` is NUL-terminated and outlives the call; `handle` is
        // a valid place for the result.
        let rc = unsafe {
            RegOpenKeyExW(
                HKEY_LOCAL_MACHINE,
                wide.as_ptr(),
                0,
                KEY_READ | KEY_WOW64_64KEY,
                &mut handle,
            )
        };
        if rc == ERROR_FILE_NOT_FOUND {
            return Ok(None);
        }
        if rc != ERROR_SUCCESS {
            return Err(format!(
                "cannot open the key: {}",
                std::io::Error::from_raw_os_error(rc)
            ));
        }
        let key = Key(handle);
        let mut values = Vec::new();
        let mut name = vec![0u16; NAME_CHARS];
        let mut data = vec![0u8; MAX_DATA];
        for index in 0..=MAX_VALUES {
            let mut name_chars = name.len() as u32;
            let mut data_bytes = data.len() as u32;
            let mut kind = 0u32;
            // SAFETY: the buffers are as long as the lengths passed; the
            // call writes at most that much and updates the lengths.
            let rc = unsafe {
                RegEnumValueW(
                    key.0,
                    index,
                    name.as_mut_ptr(),
                    &mut name_chars,
                    std::ptr::null_mut(),
                    &mut kind,
                    data.as_mut_ptr(),
                    &mut data_bytes,
                )
            };
            if rc == ERROR_NO_MORE_ITEMS {
                return Ok(Some(values));
            }
            if index == MAX_VALUES {
                return Err(format!("more than {MAX_VALUES} values"));
            }
            let value_name =
                String::from_utf16_lossy(&name[..(name_chars as usize).min(name.len())]);
            if rc == ERROR_MORE_DATA {
                return Err(format!(
                    "value `{value_name}` is larger than {} KiB",
                    MAX_DATA >> 10
                ));
            }
            if rc != ERROR_SUCCESS {
                return Err(format!(
                    "cannot read value {index}: {}",
                    std::io::Error::from_raw_os_error(rc)
                ));
            }
            let bytes = &data[..(data_bytes as usize).min(data.len())];
            values.push((value_name, decode(kind, bytes)));
        }
        Ok(Some(values))
    }

    fn decode(kind: u32, bytes: &[u8]) -> RegistryValue {
        let units: Vec<u16> = bytes
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        match kind {
            REG_SZ | REG_EXPAND_SZ => {
                let end = units.iter().position(|u| *u == 0).unwrap_or(units.len());
                RegistryValue::Text(String::from_utf16_lossy(&units[..end]))
            }
            REG_MULTI_SZ => RegistryValue::Texts(
                units
                    .split(|u| *u == 0)
                    .filter(|s| !s.is_empty())
                    .map(String::from_utf16_lossy)
                    .collect(),
            ),
            REG_DWORD if bytes.len() >= 4 => {
                RegistryValue::Number(u64::from(u32::from_le_bytes([
                    bytes[0], bytes[1], bytes[2], bytes[3],
                ])))
            }
            REG_QWORD if bytes.len() >= 8 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&bytes[..8]);
                RegistryValue::Number(u64::from_le_bytes(b))
            }
            other => RegistryValue::Other(other),
        }
    }
}
