"""Tables of face collections and of people across the library (migration ``0006`` creates exactly these).

Embeddings are 128 float32 values, 512 bytes, little-endian (``mie.storage.faces.EMBEDDING_BYTES``).
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, LargeBinary, String, Table, Text

from mie.storage.sql.tables import metadata

face_collections = Table(
    "face_collections",
    metadata,
    Column("collection_id", String(255), primary_key=True),
    Column("face_model_version", String(64), nullable=False),
    Column("face_count", Integer, nullable=False),
    # Changes with every write to the collection's faces (a fresh token, so a collection deleted and created
    # again never repeats one): servers keep each collection's embedding matrix in memory while it is unchanged.
    Column("generation", String(32), nullable=False),
    Column("created", Float, nullable=False),
)

faces = Table(
    "faces",
    metadata,
    Column("face_id", String(36), primary_key=True),
    Column("collection_id", String(255), nullable=False),
    Column("image_id", String(36), nullable=False),
    Column("external_image_id", String(255), nullable=True),
    Column("bounding_box", Text, nullable=False),
    Column("confidence", Float, nullable=False),
    Column("embedding", LargeBinary, nullable=False),
    Column("created", Float, nullable=False),
    Index("ix_faces_collection_face", "collection_id", "face_id"),
)

people_state = Table(
    "people_state",
    metadata,
    # One row. Every clustering write updates it first: on PostgreSQL that row lock puts concurrent clustering
    # transactions (from any server) one after the other, so two servers never start two people for one face.
    Column("id", Integer, primary_key=True),
    Column("generation", String(32), nullable=False),
)

people = Table(
    "people",
    metadata,
    Column("person_id", String(36), primary_key=True),
    Column("name", String(255), nullable=True),
    # Mean embedding of the person's faces (float32 bytes), and how many faces it is the mean of.
    Column("centroid", LargeBinary, nullable=False),
    Column("face_count", Integer, nullable=False),
    Column("created", Float, nullable=False),
    Column("updated", Float, nullable=False),
    Index("ix_people_name", "name"),
)

asset_faces = Table(
    "asset_faces",
    metadata,
    Column("face_id", String(36), primary_key=True),
    Column("asset_id", String(64), nullable=False),
    # The operator whose run found the face: a re-run of that operator on the asset replaces exactly these rows.
    Column("source", String(255), nullable=False),
    Column("workflow_id", String(64), nullable=False),
    # Milliseconds into a video (None: an image).
    Column("timestamp", Integer, nullable=True),
    Column("bounding_box", Text, nullable=False),
    Column("confidence", Float, nullable=False),
    Column("embedding", LargeBinary, nullable=False),
    Column("person_id", String(36), nullable=True),
    Column("created", Float, nullable=False),
    Index("ix_asset_faces_asset", "asset_id", "source"),
    Index("ix_asset_faces_person", "person_id", "asset_id"),
)
