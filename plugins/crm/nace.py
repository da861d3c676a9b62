"""NACE Rev. 2 divisions (the first two digits of a sector code), for labels and filters."""

from __future__ import annotations

import re

NACE_CODE = re.compile(r"^\d{2}(\.\d{1,2}[A-Z]?)?$")

DIVISIONS = {
    "01": "Crop and animal production", "02": "Forestry and logging", "03": "Fishing and aquaculture",
    "05": "Mining of coal and lignite", "06": "Extraction of crude petroleum and natural gas",
    "07": "Mining of metal ores", "08": "Other mining and quarrying", "09": "Mining support services",
    "10": "Food products", "11": "Beverages", "12": "Tobacco products", "13": "Textiles",
    "14": "Wearing apparel", "15": "Leather products", "16": "Wood and products of wood",
    "17": "Paper and paper products", "18": "Printing", "19": "Coke and refined petroleum products",
    "20": "Chemicals", "21": "Pharmaceuticals", "22": "Rubber and plastic products",
    "23": "Other non-metallic mineral products", "24": "Basic metals", "25": "Fabricated metal products",
    "26": "Computer, electronic and optical products", "27": "Electrical equipment",
    "28": "Machinery and equipment", "29": "Motor vehicles, trailers", "30": "Other transport equipment",
    "31": "Furniture", "32": "Other manufacturing", "33": "Repair and installation of machinery",
    "35": "Electricity, gas, steam", "36": "Water supply", "37": "Sewerage", "38": "Waste management",
    "39": "Remediation", "41": "Construction of buildings", "42": "Civil engineering",
    "43": "Specialised construction", "45": "Trade and repair of motor vehicles", "46": "Wholesale trade",
    "47": "Retail trade", "49": "Land transport", "50": "Water transport", "51": "Air transport",
    "52": "Warehousing and logistics", "53": "Postal and courier activities", "55": "Accommodation",
    "56": "Food and beverage services", "58": "Publishing", "59": "Film, video and music",
    "60": "Broadcasting", "61": "Telecommunications", "62": "Computer programming and consultancy",
    "63": "Information services", "64": "Financial services", "65": "Insurance",
    "66": "Auxiliary financial services", "68": "Real estate", "69": "Legal and accounting",
    "70": "Head offices, management consultancy", "71": "Architecture and engineering, testing",
    "72": "Scientific research and development", "73": "Advertising and market research",
    "74": "Other professional and technical activities", "75": "Veterinary activities",
    "77": "Rental and leasing", "78": "Employment activities", "79": "Travel agencies",
    "80": "Security and investigation", "81": "Services to buildings", "82": "Office support services",
    "84": "Public administration", "85": "Education", "86": "Human health", "87": "Residential care",
    "88": "Social work", "90": "Creative and arts activities", "91": "Libraries, museums",
    "92": "Gambling", "93": "Sports and recreation", "94": "Membership organisations",
    "95": "Repair of computers and goods", "96": "Other personal services", "97": "Households as employers",
    "98": "Households' own production", "99": "Extraterritorial organisations",
}


def sector_label(code: str | None) -> str:
    if not code:
        return ""
    division = DIVISIONS.get(code[:2])
    return f"{code} {division}" if division else code


def sector_choices() -> list[tuple[str, str]]:
    return [(code, f"{code} {label}") for code, label in DIVISIONS.items()]
