//! `[identity]`: the signer of `X-Kwanus-Identity` assertions.

use super::*;

/// `[identity]`: an Ed25519 or P-256 key and a TTL of at most 60 s.
pub(super) fn compile_identity(
    p: &mut Problems,
    i: file::Identity,
) -> Option<Arc<crate::identity::IdentitySigner>> {
    let file::Identity {
        signing_key,
        ttl,
        issuer,
    } = i;
    let ttl = p.duration("identity.ttl", &ttl)?;
    if ttl > Duration::from_secs(60) {
        p.bad("identity.ttl", &format!("{ttl:?}"), "at most 60s");
        return None;
    }
    let pem = match crate::files::read(std::path::Path::new(&signing_key)) {
        Ok(b) => {
            p.read(&signing_key, &b);
            b
        }
        Err(e) => {
            p.bad(
                "identity.signing_key",
                &signing_key,
                format!("cannot read it: {e}"),
            );
            return None;
        }
    };
    match crate::identity::IdentitySigner::from_pem(&pem, issuer, ttl) {
        Ok(s) => Some(Arc::new(s)),
        Err(why) => {
            p.bad("identity.signing_key", &signing_key, why);
            None
        }
    }
}
