//! End to end against each registry implementation's fake (one module per implementation).

mod acr;
mod dockerhub;
mod ecr;
mod gcr;
mod github;
mod gitlab;
mod harbor;
mod quay;
