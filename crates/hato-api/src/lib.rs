//! hato-api
