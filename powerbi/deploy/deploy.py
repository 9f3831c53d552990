"""Deploy the Power BI project in powerbi/ (semantic model and report) to a workspace with
Microsoft's fabric-cicd, repointing its Snowflake parameters by powerbi/deploy/parameter.yml.

Run by .github/workflows/cd.yml (prod, by manual dispatch), where fabric-cicd is installed in a
throwaway virtual environment: it is not a dependency of the project. Needs AZURE_TENANT_ID,
AZURE_CLIENT_ID, AZURE_CLIENT_SECRET (a service principal that is a workspace member),
POWERBI_WORKSPACE_ID and RCT_SNOWFLAKE_SERVER.

    python powerbi/deploy/deploy.py --environment PROD
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from azure.identity import ClientSecretCredential
from fabric_cicd import FabricWorkspace, append_feature_flag, publish_all_items

HERE = Path(__file__).resolve().parent
ITEM_TYPES = ["SemanticModel", "Report"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--environment", required=True, choices=["DEV", "PROD"], help="the replace_value key of parameter.yml")
    parser.add_argument("--workspace-id", default=os.environ.get("POWERBI_WORKSPACE_ID"))
    args = parser.parse_args()
    if not args.workspace_id:
        parser.error("no workspace: --workspace-id or POWERBI_WORKSPACE_ID")
    append_feature_flag("enable_environment_variable_replacement")  # "$ENV:" values in parameter.yml
    credential = ClientSecretCredential(os.environ["AZURE_TENANT_ID"], os.environ["AZURE_CLIENT_ID"], os.environ["AZURE_CLIENT_SECRET"])
    workspace = FabricWorkspace(
        workspace_id=args.workspace_id,
        repository_directory=str(HERE.parent),
        item_type_in_scope=ITEM_TYPES,
        environment=args.environment,
        token_credential=credential,
        parameter_file_path=str(HERE / "parameter.yml"),
    )
    publish_all_items(workspace)


if __name__ == "__main__":
    main()
