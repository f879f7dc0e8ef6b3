"""ReplicateKey and UpdatePrimaryRegion (issue 15; ``trent.operations.mrk`` holds the model).

ReplicateKey [API-ref ReplicateKey] makes a replica of a multi-Region primary key in another
region served: same key id, key spec, usage, origin and key material; its own key policy (the
default one unless ``Policy``), description (empty unless given) and tags (none unless
``Tags``). The replica is ``Creating`` in the answer and becomes ``Enabled`` (``PendingImport``
for an EXTERNAL key, whose material is imported into each related key) on its first read.

UpdatePrimaryRegion [API-ref UpdatePrimaryRegion] makes the replica in ``PrimaryRegion`` the
primary key and the primary a replica; the rotation schedule moves with it (rotation is a
shared property set on the primary).

Errors: ``UnsupportedOperationException`` "<arn> is not a multi-region primary key." for a
single-Region key or a replica; ``AlreadyExistsException`` when the region already holds a
related key; ``UnsupportedOperationException`` for a region Trent does not serve;
``NotFoundException`` for UpdatePrimaryRegion to a region without a replica; key states as
``states.ALLOWED`` (``KMSInvalidStateException``/``DisabledException``).
"""

from __future__ import annotations

from trent.errors import catalogue as errors
from trent.operations import mrk
from trent.operations.context import Call, Env, Request, Response
from trent.operations.keys import check_lockout, check_policy, default_policy, key_metadata
from trent.operations.states import KeyState, check_state
from trent.operations.tags import put_tags, validate_tags
from trent.store import KeyRow


def _primary(env: Env, call: Call, req: Request, operation: str) -> KeyRow:
    key = env.keyring.resolve(req["KeyId"], aliases=False)
    env.authorize(call, operation, key)
    arn = env.keyring.arn(key.key_id)
    if not key.multi_region or key.multi_region_type == mrk.REPLICA:
        raise errors.NOT_MULTI_REGION_PRIMARY(arn=arn)
    check_state(operation, key.state, arn)
    return key


def _served(env: Env, region: str) -> str:
    if region not in env.regions:
        raise errors.REGION_NOT_SERVED(region=region)
    return region


def replicate_key(env: Env, call: Call, req: Request) -> Response:
    key = _primary(env, call, req, "ReplicateKey")
    region = _served(env, req["ReplicaRegion"])
    if any(mrk.region_of(env, c) == region for c in mrk.related(env, key)):
        raise errors.REPLICA_EXISTS(key_id=key.key_id, region=region)
    account = key.account_id or env.account_id
    policy = check_policy(req["Policy"], env.store) if "Policy" in req else default_policy(account)
    tags = validate_tags(req.get("Tags", []))
    materials = env.store.list_materials(key.key_id) if key.origin == "AWS_KMS" else []
    replica = KeyRow(
        key_id=key.key_id,
        created_at=env.clock.now(),
        description=req.get("Description", ""),
        key_usage=key.key_usage,
        key_spec=key.key_spec,
        origin=key.origin,
        state=KeyState.CREATING,
        policy=policy,
        multi_region=True,
        current_material_id=key.current_material_id if materials else None,
        account_id=account,
        multi_region_type=mrk.REPLICA,
    )
    with env.in_region(region):
        env.authorize(call, "CreateKey")  # in the replica's region too [API-ref ReplicateKey]
        if "Policy" in req:
            check_lockout(env, call, policy, replica, req)
        with env.write():
            if env.store.get_key(key.key_id) is not None:  # made meanwhile
                raise errors.REPLICA_EXISTS(key_id=key.key_id, region=region)
            env.store.insert_key(replica)
            for row in materials:
                row.seq = 0
                env.store.insert_material(row)
            put_tags(env, key.key_id, tags)
        metadata = key_metadata(env, replica)
    response: Response = {"ReplicaKeyMetadata": metadata, "ReplicaPolicy": policy}
    if tags:  # absent when none were given [LS-snap test_replicate_key]
        response["ReplicaTags"] = [{"TagKey": k, "TagValue": v} for k, v in tags.items()]
    return response


def update_primary_region(env: Env, call: Call, req: Request) -> Response:
    key = _primary(env, call, req, "UpdatePrimaryRegion")
    region = _served(env, req["PrimaryRegion"])
    if region == env.region:  # already the primary region: nothing changes
        return {}
    with env.write():
        key = env.keyring.resolve(key.key_id, fresh=True)
        check_state("UpdatePrimaryRegion", key.state, env.keyring.arn(key.key_id))
        target = next((c for c in mrk.related(env, key) if mrk.region_of(env, c) == region), None)
        if target is None or target.multi_region_type != mrk.REPLICA:
            raise errors.NO_REPLICA_IN_REGION(arn=env.keyring.arn(key.key_id), region=region)
        target.multi_region_type, key.multi_region_type = mrk.PRIMARY, mrk.REPLICA
        target.rotation_enabled, key.rotation_enabled = key.rotation_enabled, False
        target.rotation_period_days = key.rotation_period_days
        target.next_rotation_at, key.next_rotation_at = key.next_rotation_at, None
        target.on_demand_rotations = key.on_demand_rotations
        target.on_demand_rotation_started_at = key.on_demand_rotation_started_at
        env.store.update_key(key)
        env.store.update_key(target)
    return {}


HANDLERS = {"ReplicateKey": replicate_key, "UpdatePrimaryRegion": update_primary_region}
