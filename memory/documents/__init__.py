"""Documents the user uploaded: parsing per format, structure-aware chunking, storage, hybrid search."""

from memory.documents.records import ChunkRecord, DocumentHit, DocumentInfo
from memory.documents.service import DocumentService

__all__ = ["ChunkRecord", "DocumentHit", "DocumentInfo", "DocumentService"]
