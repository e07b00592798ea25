"""msgspec decoders for CMR ``umm_json`` pages that read only what a footprint needs.

Imported by :mod:`.records` when msgspec is installed (it is optional: without it the standard
library reads the pages, slower, to the same records). Kept apart and without postponed
annotations, because msgspec resolves these types at run time.
"""

from typing import List, Optional, Union

import msgspec

Raw = msgspec.Raw


class AttributeT(msgspec.Struct):
    Name: Optional[str] = None
    Values: Raw = Raw(b"null")  # decoded later, only for the attributes a footprint needs


class PointT(msgspec.Struct):
    Longitude: float
    Latitude: float


class BoundaryT(msgspec.Struct):
    Points: List[PointT]


class GPolygonT(msgspec.Struct):
    Boundary: BoundaryT


class GeometryT(msgspec.Struct):
    GPolygons: List[GPolygonT]


class HorizontalT(msgspec.Struct):
    Geometry: GeometryT


class SpatialT(msgspec.Struct):
    HorizontalSpatialDomain: HorizontalT


class RangeT(msgspec.Struct):
    BeginningDateTime: Optional[str] = None
    EndingDateTime: Optional[str] = None


class TemporalT(msgspec.Struct):
    RangeDateTime: Optional[RangeT] = None


class UrlT(msgspec.Struct):
    URL: Optional[str] = None
    Type: Optional[str] = None


class NamedT(msgspec.Struct):
    ShortName: Optional[str] = None


class OrbitT(msgspec.Struct):
    OrbitNumber: Union[int, float, str, None] = None


class IdentifierT(msgspec.Struct):
    Identifier: Optional[str] = None
    IdentifierType: Optional[str] = None


class DataGranuleT(msgspec.Struct):
    Identifiers: List[IdentifierT] = []


class UmmT(msgspec.Struct):
    GranuleUR: Optional[str] = None
    AdditionalAttributes: List[AttributeT] = []
    SpatialExtent: Optional[SpatialT] = None
    TemporalExtent: Optional[TemporalT] = None
    RelatedUrls: List[UrlT] = []
    Platforms: List[NamedT] = []
    OrbitCalculatedSpatialDomains: List[OrbitT] = []
    DataGranule: Optional[DataGranuleT] = None
    CollectionReference: Optional[NamedT] = None


class ItemT(msgspec.Struct):
    umm: Raw = Raw(b"null")
    meta: Raw = Raw(b"null")


class PageT(msgspec.Struct):
    items: List[ItemT]
    hits: Optional[int] = None


PAGE = msgspec.json.Decoder(PageT)
UMM = msgspec.json.Decoder(UmmT)
# the Values lists of several attributes at once: [[...], [...], ...]
VALUES = msgspec.json.Decoder(List[Optional[List[Union[str, int, float, bool, None]]]])
