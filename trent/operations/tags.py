"""TagResource, UntagResource, ListResourceTags."""

from __future__ import annotations

from trent.errors import catalogue as errors
from trent.operations.context import Call, Env, Request, Response, check_dry_run
from trent.operations.paging import page
from trent.operations.states import check_state
from trent.store import TagRow

MAX_TAGS_PER_KEY = 50


def validate_tags(tags: list[dict[str, str]]) -> dict[str, str]:
    """The tags of a request as a dict, checked as AWS checks them [LS-snap]: duplicate keys
    (``TagException`` "Duplicate tag keys"), then more than 50 in one request ("Too many
    tags"), then reserved ``aws:`` keys."""
    keys = [tag["TagKey"] for tag in tags]
    if len(set(keys)) < len(keys):
        raise errors.TAG_DUPLICATE(detail=f"{len(keys) - len(set(keys))} duplicate tag keys")
    if len(tags) > MAX_TAGS_PER_KEY:
        raise errors.TAG_TOO_MANY(detail=f"{len(tags)} tags in one request")
    for key in keys:
        if key.lower().startswith("aws:"):
            raise errors.TAG_RESERVED()
    return {tag["TagKey"]: tag["TagValue"] for tag in tags}


def put_tags(env: Env, key_id: str, tags: dict[str, str]) -> None:
    """Add or replace tags inside the caller's write transaction."""
    for tag_key, tag_value in tags.items():
        env.store.put_tag(TagRow(key_id, tag_key, tag_value))
    if env.store.count_tags(key_id) > MAX_TAGS_PER_KEY:
        raise errors.TAG_QUOTA(limit=MAX_TAGS_PER_KEY)


def tag_resource(env: Env, call: Call, req: Request) -> Response:
    key = env.keyring.resolve(req["KeyId"], aliases=False)
    env.authorize(call, "TagResource", key)
    tags = validate_tags(req["Tags"])
    check_state("TagResource", key.state, env.keyring.arn(key.key_id))
    check_dry_run(req)
    with env.write():
        put_tags(env, key.key_id, tags)
    return {}


def untag_resource(env: Env, call: Call, req: Request) -> Response:
    key = env.keyring.resolve(req["KeyId"], aliases=False)
    env.authorize(call, "UntagResource", key)
    check_state("UntagResource", key.state, env.keyring.arn(key.key_id))
    check_dry_run(req)
    with env.write():
        for tag_key in req["TagKeys"]:
            env.store.delete_tag(key.key_id, tag_key)
    return {}


def list_resource_tags(env: Env, call: Call, req: Request) -> Response:
    key = env.keyring.resolve(req["KeyId"], aliases=False)
    env.authorize(call, "ListResourceTags", key)
    if req.get("Limit", 1) > MAX_TAGS_PER_KEY:
        raise errors.LIST_LIMIT(limit=MAX_TAGS_PER_KEY)
    rows, more = page(
        req, lambda after, n: env.store.list_tags(key.key_id, after, n), lambda t: t.tag_key, 50
    )
    return {"Tags": [{"TagKey": t.tag_key, "TagValue": t.tag_value} for t in rows], **more}


HANDLERS = {
    "TagResource": tag_resource,
    "UntagResource": untag_resource,
    "ListResourceTags": list_resource_tags,
}
