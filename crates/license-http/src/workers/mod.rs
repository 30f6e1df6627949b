//! Background work that runs beside the admin service (SPEC §9), each on its own thread: the
//! mint-job worker, and the lifecycle worker (expiry sweeper, reminders, audit retention,
//! webhook delivery). Safe with several instances: jobs and deliveries are claimed.

pub mod lifecycle;
pub mod mail_delivery;
pub mod mint;
pub mod webhook_delivery;
