//! `graphsec generate`: made-up, realistic profiles as newline-delimited JSON for `import`.
//!
//! The output is a function of the arguments alone: a pseudo-random generator of our own
//! (splitmix64, integer arithmetic only) is seeded with `--seed`, and every time is counted back
//! from `--now`, which has a fixed default. A library generator could change its stream between
//! versions, and the clock or floating-point library functions would differ between runs or
//! machines; either would break "same arguments, same bytes". Profiles are drawn one after the
//! other from one stream, so a smaller `--count` prints the first lines of a larger one.
//!
//! Each line is already in the canonical form the store keeps (declared members in CSDL order,
//! explicit nulls, complete accounts and vendorInformation, wire-form times), so a profile is
//! exported exactly as it was generated.

use crate::config::GenerateArgs;
use anyhow::Context;
use serde::Serialize;
use std::io::Write;

/// Times are spread over this span before `--now`.
const SPAN_SECONDS: i64 = 365 * 86_400;

#[rustfmt::skip]
const FIRST_NAMES: &[&str] = &[
    "Adele", "Alex", "Allan", "Amara", "Ana", "Arjun", "Ben", "Carlos", "Chen", "Chloe", "Christie", "Daniel",
    "Diego", "Elena", "Emily", "Fatima", "Grady", "Hana", "Henrietta", "Ian", "Isaiah", "Jakob", "Johanna", "Joni",
    "Kenji", "Lee", "Lidia", "Lynne", "Megan", "Miriam", "Mohammed", "Nestor", "Nina", "Oliver", "Patti", "Pradeep",
    "Priya", "Raul", "Sakura", "Samuel", "Sofia", "Tariq", "Thomas", "Valentina", "Wei", "Yusuf", "Zara", "Zoe",
];

#[rustfmt::skip]
const LAST_NAMES: &[&str] = &[
    "Adams", "Ahmed", "Bauer", "Brown", "Chen", "Cohen", "Dubois", "Fernandez", "Garcia", "Gonzalez", "Gupta",
    "Hansen", "Ito", "Jensen", "Johnson", "Kim", "Kowalski", "Larsen", "Lopez", "Martin", "Mueller", "Nakamura",
    "Nguyen", "Novak", "Okafor", "Patel", "Petrov", "Rossi", "Santos", "Schmidt", "Silva", "Singh", "Smith",
    "Sullivan", "Tanaka", "Vance", "Wagner", "Wilber", "Williams", "Wong", "Yamamoto", "Zhang",
];

/// Tags and how often each is on a profile, per thousand.
const TAGS: &[(&str, u64)] = &[
    ("HVA", 60),
    ("VIP", 30),
    ("Priority", 90),
    ("Executive", 25),
    ("Admin", 50),
    ("Finance", 80),
    ("HR", 40),
    ("Legal", 20),
    ("Engineering", 120),
    ("Sales", 90),
    ("Contractor", 70),
    ("ServiceAccount", 30),
    ("Watchlist", 15),
];

/// Services of the accounts after the first (which is always the directory's), with how their
/// sign-in names look.
const SERVICES: &[(&str, SigninForm)] = &[
    ("Active Directory", SigninForm::DomainAccount),
    ("Office 365", SigninForm::PrincipalName),
    ("Salesforce", SigninForm::PrincipalName),
    ("AWS", SigninForm::LocalName),
    ("Google Workspace", SigninForm::PrincipalName),
    ("Okta", SigninForm::PrincipalName),
    ("GitHub", SigninForm::LocalName),
];
const DIRECTORY_SERVICE: &str = "Azure Active Directory";

#[derive(Clone, Copy)]
enum SigninForm {
    PrincipalName,
    /// `CONTOSO\first.last`.
    DomainAccount,
    LocalName,
}

/// accountStatus values (`unknownFutureValue` is the enum's sentinel, never a real status), per
/// thousand.
const STATUSES: &[(&str, u64)] =
    &[("active", 820), ("suspended", 70), ("staged", 40), ("deleted", 40), ("unknown", 30)];

/// (provider, providerVersion, subProvider), all from vendor Microsoft.
const VENDORS: &[(&str, &str, Option<&str>)] = &[
    ("IPC", "2.0", None),
    ("MCAS", "1.0", None),
    ("Azure Advanced Threat Protection", "3.0", Some("MDI")),
    ("Microsoft Defender ATP", "2.0", Some("MDE")),
];

/// Risk score bands (low, high, per thousand): most users are low risk, a few high.
const RISK_BANDS: &[(u64, u64, u64)] = &[(0, 20, 550), (21, 50, 250), (51, 80, 130), (81, 100, 70)];

/// Accounts per profile (1 to 4), per thousand.
const ACCOUNT_COUNTS: &[(usize, u64)] = &[(1, 350), (2, 350), (3, 200), (4, 100)];

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Profile<'a> {
    id: String,
    accounts: Vec<Account<'a>>,
    azure_subscription_id: Option<&'a str>,
    azure_tenant_id: &'a str,
    created_date_time: String,
    display_name: &'a str,
    last_modified_date_time: String,
    risk_score: String,
    tags: Vec<&'static str>,
    user_principal_name: &'a str,
    vendor_information: Vendor,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Account<'a> {
    display_name: &'a str,
    last_seen_date_time: Option<String>,
    risk_score: String,
    service: &'static str,
    signin_name: String,
    status: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Vendor {
    provider: &'static str,
    provider_version: &'static str,
    sub_provider: Option<&'static str>,
    vendor: &'static str,
}

/// Writes `args.count` profiles to `out` (which the caller buffers), one per line.
pub fn run(args: &GenerateArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let now = crate::domain::datetime::normalize(&args.now).map_err(|e| anyhow::anyhow!("--now: {e}"))?;
    let now = unix_seconds(&now).context("--now must be after the year 1")?;
    let mut generator = Generator::new(args, now);
    let mut line = Vec::with_capacity(4096);
    let mut display_name = String::new();
    let mut upn = String::new();
    for index in 0..args.count {
        line.clear();
        generator.profile(index, &mut display_name, &mut upn, &mut line)?;
        line.push(b'\n');
        out.write_all(&line)?;
    }
    Ok(())
}

struct Generator<'a> {
    rng: SplitMix64,
    tenant: &'a str,
    domain: &'a str,
    /// The domain's first label in capitals, as an NT domain name.
    netbios: String,
    subscriptions: [String; 3],
    now: i64,
    /// A multiplier coprime with the number of name pairs: it walks through every pair once per
    /// cycle, so user principal names never repeat.
    stride: u64,
    seed: u64,
}

impl<'a> Generator<'a> {
    fn new(args: &'a GenerateArgs, now: i64) -> Generator<'a> {
        let mut rng = SplitMix64(args.seed);
        let subscriptions = [uuid(&mut rng), uuid(&mut rng), uuid(&mut rng)];
        let pairs = (FIRST_NAMES.len() * LAST_NAMES.len()) as u64;
        let mut stride = rng.below(pairs) | 1;
        while gcd(stride, pairs) != 1 {
            stride += 2;
        }
        let label = args.domain.split('.').next().unwrap_or_default();
        let netbios = label.chars().filter(char::is_ascii_alphanumeric).take(15).collect::<String>().to_uppercase();
        Generator {
            rng,
            tenant: &args.tenant,
            domain: &args.domain,
            netbios,
            subscriptions,
            now,
            stride,
            seed: args.seed,
        }
    }

    fn profile(
        &mut self,
        index: u64,
        display_name: &mut String,
        upn: &mut String,
        line: &mut Vec<u8>,
    ) -> anyhow::Result<()> {
        let (first, last, cycle) = self.name(index);
        display_name.clear();
        display_name.push_str(first);
        display_name.push(' ');
        display_name.push_str(last);
        let mut local = format!("{}.{}", first.to_ascii_lowercase(), last.to_ascii_lowercase());
        if cycle > 0 {
            local.push_str(&(cycle + 1).to_string());
        }
        upn.clear();
        upn.push_str(&local);
        upn.push('@');
        upn.push_str(self.domain);

        let id = uuid(&mut self.rng);
        let created = self.now - self.rng.below(SPAN_SECONDS as u64) as i64;
        let created_ticks = self.rng.below(10_000_000);
        let modified = created + self.rng.below((self.now - created) as u64 + 1) as i64;
        let modified_ticks = self.rng.below(10_000_000);
        let risk = self.risk();
        let accounts = (0..pick(&mut self.rng, ACCOUNT_COUNTS))
            .map(|n| self.account(n, display_name, upn, &local, created, risk))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let subscription = match self.rng.below(10) {
            0..7 => Some(self.subscriptions[self.rng.below(3) as usize].as_str()),
            _ => None,
        };
        let tags = TAGS.iter().filter(|(_, per_mille)| self.rng.below(1000) < *per_mille).map(|(t, _)| *t).collect();
        let (provider, provider_version, sub_provider) = VENDORS[self.rng.below(VENDORS.len() as u64) as usize];
        let profile = Profile {
            id,
            accounts,
            azure_subscription_id: subscription,
            azure_tenant_id: self.tenant,
            created_date_time: wire_time(created, created_ticks)?,
            display_name,
            last_modified_date_time: wire_time(modified, modified_ticks)?,
            risk_score: risk.to_string(),
            tags,
            user_principal_name: upn,
            vendor_information: Vendor { provider, provider_version, sub_provider, vendor: "Microsoft" },
        };
        serde_json::to_writer(line, &profile)?;
        Ok(())
    }

    /// The names of profile `index`, and how many times every pair was used before it.
    fn name(&self, index: u64) -> (&'static str, &'static str, u64) {
        let pairs = (FIRST_NAMES.len() * LAST_NAMES.len()) as u64;
        let cycle = index / pairs;
        // Each cycle starts at another pair, so the names do not come back in the same order.
        let offset = SplitMix64(self.seed ^ cycle.wrapping_mul(0x9E37_79B9_7F4A_7C15)).below(pairs);
        let pair = ((index % pairs) * self.stride + offset) % pairs;
        let (first, last) = (pair / LAST_NAMES.len() as u64, pair % LAST_NAMES.len() as u64);
        (FIRST_NAMES[first as usize], LAST_NAMES[last as usize], cycle)
    }

    fn risk(&mut self) -> u64 {
        let roll = self.rng.below(1000);
        let mut below = 0;
        for (low, high, per_mille) in RISK_BANDS {
            below += per_mille;
            if roll < below {
                return low + self.rng.below(high - low + 1);
            }
        }
        0
    }

    /// Account `n` of a profile: the first is the directory account and carries the profile's
    /// risk; the others are in other services, each at most as risky.
    fn account<'n>(
        &mut self,
        n: usize,
        display_name: &'n str,
        upn: &str,
        local: &str,
        created: i64,
        risk: u64,
    ) -> anyhow::Result<Account<'n>> {
        let (service, form) = match n {
            0 => (DIRECTORY_SERVICE, SigninForm::PrincipalName),
            // Distinct services: consecutive entries from a random start.
            _ => SERVICES[(self.rng.below(SERVICES.len() as u64) as usize + n) % SERVICES.len()],
        };
        let signin_name = match form {
            SigninForm::PrincipalName => upn.to_string(),
            SigninForm::DomainAccount => format!("{}\\{local}", self.netbios),
            SigninForm::LocalName => local.to_string(),
        };
        let status = pick(&mut self.rng, STATUSES);
        let seen = created + self.rng.below((self.now - created) as u64 + 1) as i64;
        let seen_ticks = self.rng.below(10_000_000);
        Ok(Account {
            display_name,
            // A staged account has not signed in yet.
            last_seen_date_time: if status == "staged" { None } else { Some(wire_time(seen, seen_ticks)?) },
            risk_score: if n == 0 { risk } else { self.rng.below(risk + 1) }.to_string(),
            service,
            signin_name,
            status,
        })
    }
}

/// A value from `(value, per_mille)` pairs whose weights add up to 1000.
fn pick<T: Copy>(rng: &mut SplitMix64, table: &[(T, u64)]) -> T {
    let roll = rng.below(1000);
    let mut below = 0;
    for (value, per_mille) in table {
        below += per_mille;
        if roll < below {
            return *value;
        }
    }
    table[table.len() - 1].0
}

/// A version-4 UUID from the generator, in its usual text form.
fn uuid(rng: &mut SplitMix64) -> String {
    let bytes = (u128::from(rng.next()) << 64 | u128::from(rng.next())).to_be_bytes();
    uuid::Builder::from_random_bytes(bytes).into_uuid().to_string()
}

/// `seconds` since 1970 plus `ticks` of 100 ns, in wire form.
fn wire_time(seconds: i64, ticks: u64) -> anyhow::Result<String> {
    let t = time::OffsetDateTime::from_unix_timestamp(seconds).context("a time out of range")?;
    Ok(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{ticks:07}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    ))
}

/// Seconds since 1970 of a wire-form time, if a year before it is still a time.
fn unix_seconds(wire: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(wire, &time::format_description::well_known::Rfc3339).ok()?;
    (t.year() > 1).then(|| t.unix_timestamp())
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// splitmix64 (Steele, Lea and Flood): tiny, fast, and its stream is fixed by its definition.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (n > 0), by multiply-and-shift: no division, no floating point.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generate(count: u64, seed: u64) -> String {
        let args = GenerateArgs {
            count,
            tenant: "t".into(),
            domain: "contoso.com".into(),
            seed,
            now: "2026-01-01T00:00:00Z".into(),
        };
        let mut out = Vec::new();
        run(&args, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn splitmix64_is_the_published_stream() {
        // The first outputs for seed 1234567 in the reference implementation.
        let mut rng = SplitMix64(1234567);
        assert_eq!(rng.next(), 6457827717110365317);
        assert_eq!(rng.next(), 3203168211198807973);
    }

    #[test]
    fn every_line_is_a_valid_canonical_profile() {
        use crate::domain::profile::{LastModified, build_new, parse_input};
        let text = generate(300, 5);
        for line in text.lines() {
            let input = parse_input(line.as_bytes()).unwrap();
            let doc = build_new(input, "x", "2000-01-01T00:00:00.0000000Z", LastModified::AsGiven).unwrap();
            assert_eq!(serde_json::to_string(&doc).unwrap(), line, "the store keeps the line as it is");
            assert!(doc["createdDateTime"].as_str() <= doc["lastModifiedDateTime"].as_str());
        }
    }

    #[test]
    fn user_principal_names_do_not_repeat() {
        let pairs = (FIRST_NAMES.len() * LAST_NAMES.len()) as u64;
        let text = generate(pairs * 2 + 7, 9);
        let mut upns = std::collections::HashSet::new();
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert!(upns.insert(v["userPrincipalName"].as_str().unwrap().to_string()));
        }
    }
}
