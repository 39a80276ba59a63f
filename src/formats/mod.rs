//! Text formats coffer reads and writes: OTP URIs, dotenv files, `coffer:` references and
//! templates, generated passwords, and leak patterns.

pub mod dotenv;
pub mod generate;
pub mod leak;
pub mod otp;
pub mod reference;
pub mod template;
