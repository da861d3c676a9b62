"""Vocabulary and generators for a realistic synthetic federation (Upper Austria and France).

Everything is drawn from the ``random.Random`` it is given, so a seed gives the same
federation every time.  Plugins reach this module as ``bench.synth`` (they need not
import ``bench``).
"""

from __future__ import annotations

import random
import unicodedata
from datetime import date, datetime, timedelta, timezone

SECTORS = [
    # (key, label, words that go into company names)
    ("automotive", "Automotive suppliers", ["Automotive", "Fahrzeugtechnik", "Autoteile", "Équipements Auto", "Drivetrain"]),
    ("plastics", "Plastics and composites", ["Kunststofftechnik", "Plasturgie", "Polymers", "Composites", "Moulage"]),
    ("wood", "Wood and furniture", ["Holzbau", "Möbelwerk", "Menuiserie", "Timber", "Bois Concept"]),
    ("health", "Health technologies", ["Medizintechnik", "MedTech", "Santé", "Biotech", "Pharma"]),
    ("mechatronics", "Mechatronics and machinery", ["Maschinenbau", "Mechatronik", "Automation", "Mécanique", "Robotics"]),
    ("environment", "Environmental technologies", ["Umwelttechnik", "Recycling", "Wassertechnik", "Environnement", "CleanTech"]),
    ("energy", "Energy efficiency", ["Energietechnik", "Solar", "Haustechnik", "Énergies", "Thermotech"]),
    ("design", "Design and creative industries", ["Design", "Werbeagentur", "Studio", "Communication", "Creative"]),
    ("ict", "Software and ICT", ["Software", "Informatik", "Systems", "Digital", "Data Tech"]),
    ("services", "Engineering and consulting", ["Engineering", "Consulting", "Ingenieurbüro", "Conseil", "Prüftechnik"]),
    ("food", "Food industry", ["Lebensmittel", "Feinkost", "Agroalimentaire", "Brauerei", "Molkerei"]),
    ("metal", "Metal processing", ["Metallbau", "Stahlbau", "Oberflächentechnik", "Usinage", "Blechtechnik"]),
]

COMPETENCES = [
    "injection moulding", "extrusion", "blow moulding", "thermoforming", "composite lay-up",
    "CNC machining", "laser cutting", "laser welding", "sheet-metal forming", "die casting",
    "surface treatment", "powder coating", "additive manufacturing", "3D printing", "rapid prototyping",
    "CAD/CAM", "FEM simulation", "embedded software", "PLC programming", "industrial robotics",
    "machine vision", "sensor technology", "IoT platforms", "data analytics", "cybersecurity",
    "lean management", "six sigma", "ISO 9001", "ISO 13485", "IATF 16949", "ISO 14001",
    "life-cycle assessment", "recycling of plastics", "waste-water treatment", "heat recovery",
    "photovoltaics", "building automation", "energy audits", "timber construction", "CLT panels",
    "furniture design", "industrial design", "UX design", "brand strategy", "trade-fair marketing",
    "export to DACH", "export to Asia", "EU funding", "technical training", "apprenticeship",
    "medical devices", "clean-room production", "sterile packaging", "biocompatibility testing",
    "logistics", "supply-chain management", "quality assurance", "metrology", "non-destructive testing",
    "electric drivetrains", "battery systems", "lightweight construction", "tooling", "mould making",
]

CITIES_AT = [
    ("Linz", "4020"), ("Wels", "4600"), ("Steyr", "4400"), ("Traun", "4050"), ("Leonding", "4060"),
    ("Braunau am Inn", "5280"), ("Ried im Innkreis", "4910"), ("Vöcklabruck", "4840"), ("Gmunden", "4810"),
    ("Freistadt", "4240"), ("Enns", "4470"), ("Perg", "4320"), ("Kirchdorf an der Krems", "4560"),
    ("Schärding", "4780"), ("Rohrbach-Berg", "4150"), ("Eferding", "4070"), ("Grieskirchen", "4710"),
    ("Bad Ischl", "4820"), ("Ansfelden", "4052"), ("Marchtrenk", "4614"), ("Attnang-Puchheim", "4800"),
    ("Mattighofen", "5230"), ("Laakirchen", "4663"), ("Sierning", "4522"), ("Pasching", "4061"),
]
CITIES_FR = [
    ("Lyon", "69003"), ("Saint-Étienne", "42000"), ("Grenoble", "38000"), ("Annecy", "74000"),
    ("Villeurbanne", "69100"), ("Oyonnax", "01100"), ("Clermont-Ferrand", "63000"), ("Orléans", "45000"),
    ("Besançon", "25000"), ("Chambéry", "73000"), ("Valence", "26000"), ("Roanne", "42300"),
    ("Mâcon", "71000"), ("Bourg-en-Bresse", "01000"), ("Vienne", "38200"), ("Montbéliard", "25200"),
]

FIRST_NAMES_AT = [
    "Johann", "Maria", "Stefan", "Anna", "Thomas", "Katharina", "Michael", "Elisabeth", "Andreas",
    "Sabine", "Wolfgang", "Birgit", "Christian", "Monika", "Martin", "Petra", "Markus", "Claudia",
    "Gerhard", "Barbara", "Florian", "Julia", "Lukas", "Lena", "Manfred", "Verena", "Josef",
    "Theresa", "Günther", "Ursula", "Jürgen", "Magdalena", "Bernhard", "Sandra", "Reinhard", "Doris",
]
FIRST_NAMES_FR = [
    "Jean", "Marie", "Pierre", "Sophie", "Nicolas", "Isabelle", "Élodie", "François", "Hélène",
    "Jérôme", "Nathalie", "Philippe", "Céline", "Laurent", "Aurélie", "Julien", "Camille", "Sébastien",
    "Valérie", "Thierry", "Chloé", "Mathieu", "Anaïs", "Benoît", "Léa", "Frédéric", "Émilie", "Loïc",
]
LAST_NAMES_AT = [
    "Huber", "Gruber", "Wagner", "Bauer", "Pichler", "Steiner", "Moser", "Mayer", "Hofer", "Leitner",
    "Berger", "Fuchs", "Eder", "Fischer", "Schmid", "Winkler", "Weber", "Schwarz", "Maier", "Schneider",
    "Reiter", "Mayr", "Schmidt", "Wimmer", "Egger", "Brunner", "Lang", "Baumgartner", "Auer", "Binder",
    "Lechner", "Wolf", "Wallner", "Aigner", "Ebner", "Koller", "Lehner", "Haas", "Schuster", "Holzer",
    "Größwang", "Öhlinger", "Kührer", "Pöttinger", "Rosenbauer", "Fröhlich", "Schönberger", "Hölzl",
]
LAST_NAMES_FR = [
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau",
    "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "David", "Bertrand", "Roux", "Vincent", "Fournier",
    "Morel", "Girard", "André", "Mercier", "Dupont", "Lambert", "Bonnet", "François", "Martinez", "Faure",
    "Rousseau", "Blanc", "Guérin", "Muller", "Henry", "Rivière", "Chevalier", "Gauthier", "Perrin", "Lemaître",
]
NAME_ROOTS = [
    "Alpen", "Donau", "Traun", "Mühl", "Inn", "Hausruck", "Salzkammer", "Pyhrn", "Enns", "Kobernauß",
    "Rhône", "Alpes", "Jura", "Forez", "Bresse", "Dauphiné", "Vercors", "Chartreuse", "Loire", "Saône",
    "Nova", "Prisma", "Vector", "Helix", "Quantum", "Axis", "Orbit", "Zenit", "Delta", "Sigma", "Apex",
    "Lumen", "Terra", "Aqua", "Ferro", "Lignum", "Poly", "Servo", "Opti", "Astra", "Kinetic", "Vita",
]
LEGAL_AT = ["GmbH", "GmbH", "GmbH & Co KG", "AG", "e.U.", "OG", "KG"]
LEGAL_FR = ["SAS", "SAS", "SARL", "SA", "SASU", "EURL"]
FUNCTIONS = [
    "CEO", "Managing director", "Head of R&D", "Plant manager", "Sales director", "HR manager",
    "Quality manager", "Purchasing manager", "Project engineer", "Marketing manager",
    "Innovation manager", "CFO", "Production engineer", "Export manager", "Training officer",
]
EVENT_KINDS = [
    "Workshop", "Company visit", "Network meeting", "Conference", "Trade-fair stand", "Webinar",
    "Round table", "Innovation day", "Breakfast talk", "Study trip",
]
EVENT_TOPICS = [
    "lightweight construction", "Industry 4.0", "energy efficiency in production", "circular plastics",
    "medical device regulation (MDR)", "timber high-rise", "AI in quality control", "export to China",
    "apprenticeships", "hydrogen mobility", "cybersecurity for SMEs", "lean administration",
    "sustainable packaging", "design thinking", "EU Horizon funding", "predictive maintenance",
]


def fold(text: str) -> str:
    """Lowercase ASCII letters of ``text`` (for e-mail addresses and domains)."""
    text = text.replace("ß", "ss")
    ascii_ = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in ascii_.lower() if ch.isalnum() or ch in "-.")


def fold_name(name: str) -> str:
    """A name without case, accents or extra spaces (two names equal so are homonyms)."""
    text = unicodedata.normalize("NFKD", name.casefold())
    return " ".join("".join(c for c in text if not unicodedata.combining(c)).split())


def luhn_complete(digits: str) -> str:
    """Append the Luhn check digit (French SIREN numbers are Luhn-valid)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return digits + str((10 - total % 10) % 10)


def company(rng: random.Random, serial: int, taken: set[str] | None = None) -> dict:
    """A company: name, sector, competences, address, registration number.

    :param serial: a number unique to this company (used in its web domain, SIREN).
    :param taken: names already used (as :func:`fold_name`); the new name is made unique and added.
    """
    french = rng.random() < 0.45
    sector_key, sector_label, words = rng.choice(SECTORS)
    style = rng.random()
    if style < 0.4:
        base = f"{rng.choice(LAST_NAMES_FR if french else LAST_NAMES_AT)} {rng.choice(words)}"
    elif style < 0.75:
        base = f"{rng.choice(NAME_ROOTS)}{rng.choice(['', ' ', '-'])}{rng.choice(words)}"
    else:
        a, b = rng.sample(LAST_NAMES_FR if french else LAST_NAMES_AT, 2)
        base = f"{a} & {b} {rng.choice(words)}"
    legal = rng.choice(LEGAL_FR if french else LEGAL_AT)
    city, postcode = rng.choice(CITIES_FR if french else CITIES_AT)
    name = f"{base} {legal}"
    if taken is not None:
        # a real register has few exact homonyms: add the site, then a branch number
        if fold_name(name) in taken:
            name = f"{base} {city} {legal}"
        n = 2
        while fold_name(name) in taken:
            name = f"{base} {city} {n} {legal}"
            n += 1
        taken.add(fold_name(name))
    domain = fold(base.replace(" ", "-").replace("&", "und" if not french else "et"))[:40].strip("-.")
    return {
        "name": name,
        "sector": sector_key,
        "sector_label": sector_label,
        "country": "FR" if french else "AT",
        "city": city,
        "postcode": postcode,
        "street": f"{rng.choice(['Industriestraße', 'Gewerbepark', 'Hauptplatz', 'Technologiepark'] if not french else ['rue de l’Industrie', 'avenue Jean-Jaurès', 'zone artisanale', 'parc technologique'])} {rng.randint(1, 180)}",
        "website": f"https://www.{domain}-{serial}.{'fr' if french else 'at'}",
        "domain": f"{domain}-{serial}.{'fr' if french else 'at'}",
        "siren": luhn_complete(f"{(serial * 7919 + 10_000_000) % 100_000_000:08d}") if french else "",
        "employees": int(rng.lognormvariate(3.2, 1.3)) + 1,
        "competences": rng.sample(COMPETENCES, rng.randint(1, 4)),
        "french": french,
    }


def person(rng: random.Random, org: dict | None, serial: int) -> dict:
    """A person working for ``org`` (or independent): name, e-mail, phone, function, language."""
    french = org["french"] if org else rng.random() < 0.45
    first = rng.choice(FIRST_NAMES_FR if french else FIRST_NAMES_AT)
    last = rng.choice(LAST_NAMES_FR if french else LAST_NAMES_AT)
    domain = org["domain"] if org else f"mail{serial % 97}.example.{'fr' if french else 'at'}"
    return {
        "first_name": first,
        "last_name": last,
        "email": f"{fold(first)}.{fold(last)}.{serial}@{domain}",
        "phone": f"+33 4 {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)}"
        if french else f"+43 7{rng.randint(2, 9)}{rng.randint(1, 9)} {rng.randint(100000, 999999)}",
        "function": rng.choice(FUNCTIONS),
        "language": "fr" if french else "en",
    }


def day_in_last_years(rng: random.Random, years: float = 3.0, today: date | None = None) -> date:
    """A day within the last ``years`` years (spread evenly)."""
    today = today or date(2026, 11, 1)
    return today - timedelta(days=rng.randint(0, int(365 * years)))


def moment(day: date, hour: int = 9) -> datetime:
    return datetime(day.year, day.month, day.day, hour, 0, tzinfo=timezone.utc)


def event_title(rng: random.Random) -> str:
    return f"{rng.choice(EVENT_KINDS)}: {rng.choice(EVENT_TOPICS)}"
