"""Flankwatch geoprocessing: airspace attribution, geodesic distances, gazetteer."""
