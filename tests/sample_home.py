"""A data home whose landing holds the real vendor samples of ``../shared/samples/`` (read from
there, copied into the test's own home, never into the project), with a tenant registry and a
lookup of source accounts that attribute some of their keys, leave others unknown and list the
platform's own as global scope."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tenantproof.core.home import PROJECT_DIR

SAMPLES = PROJECT_DIR.parent / "shared" / "samples"

CLOUDTRAIL = SAMPLES / "aws_cloudtrail" / "panther_cloudtrail_tests.jsonl"
CLOUDTRAIL_OTRF = SAMPLES / "aws_cloudtrail" / "otrf_ec2_proxy_s3_exfiltration_2020-09-14.jsonl"
OKTA = SAMPLES / "okta" / "panther_okta_systemlog.jsonl"
GITHUB = SAMPLES / "github_audit" / "panther_github_audit.jsonl"
KUBERNETES = SAMPLES / "kubernetes_audit" / "panther_eks_audit.jsonl"

TENANTS_CSV = """tenant_id,tenant_name,tenant_class,residency_region,onboarded_at,offboarded_at
acme,Acme Corporation,enterprise,eu,2019-01-01,
globex,Globex 株式会社,standard,us,2019-01-01,
initech,Initech GmbH,regulated,eu,2019-01-01,
"""

ACCOUNTS_CSV = """lookup,source_key,tenant_id,global_scope,scope_justification
aws_account,123456789012,acme,,
aws_account,111122223333,globex,,
aws_account,123456789123,initech,,
aws_account,111111111111,,platform-security,the platform's own security account
github,my-org,acme,,
github,an-org,globex,,
github,example-enterprise,,platform-github,the platform's GitHub enterprise
k8s_namespace,production,acme,,
k8s_namespace,default,globex,,
k8s_namespace,kube-system,,platform-cluster,the shared cluster's own namespace
"""


def require_samples() -> None:
    if not SAMPLES.is_dir():
        pytest.fail(
            f"the vendor samples are not at {SAMPLES} (../shared/samples beside the project)"
        )


def write_sample_landing(landing: Path) -> None:
    """The registry, the lookup and each sample where its shipped mapping reads it."""
    require_samples()
    (landing / "tenants").mkdir(parents=True, exist_ok=True)
    (landing / "tenants" / "tenants.csv").write_text(TENANTS_CSV)
    (landing / "tenant_source_accounts").mkdir(parents=True, exist_ok=True)
    (landing / "tenant_source_accounts" / "accounts.csv").write_text(ACCOUNTS_CSV)
    places = {
        CLOUDTRAIL: landing / "aws_cloudtrail" / CLOUDTRAIL.name,
        CLOUDTRAIL_OTRF: landing / "aws_cloudtrail" / CLOUDTRAIL_OTRF.name,
        OKTA: landing / "okta" / "tenants" / "initech" / OKTA.name,
        GITHUB: landing / "github_audit" / GITHUB.name,
        KUBERNETES: landing / "kubernetes_audit" / KUBERNETES.name,
    }
    for sample, place in places.items():
        place.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sample, place)
