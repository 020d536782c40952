package eval

import (
	"slices"
	"strings"
	"sync"
)

// LegalTerms is the vocabulary TerminologyOverlap looks for: legal terms and
// phrases that matter in contract question answering (CUAD's clause
// categories, boilerplate provisions, remedies). Each entry is one concept;
// "|" separates alternative phrasings that count as the same concept, and the
// first one names it. Entries are matched after rouge_score tokenization
// with Porter stemming (see RougeTokenize), so plurals and verb forms match
// ("terminated" and "termination" both hit "termination"); alternatives
// cover derivations the stemmer does not conflate ("indemnify" and
// "indemnification").
var LegalTerms = []string{
	"indemnification|indemnify|indemnity|indemnitor|indemnitee",
	"hold harmless",
	"governing law|choice of law",
	"jurisdiction",
	"venue",
	"arbitration|arbitrate|arbitrator",
	"mediation|mediator",
	"dispute resolution",
	"force majeure|act of god",
	"liquidated damages",
	"consequential damages",
	"indirect damages",
	"punitive damages",
	"damages",
	"penalty",
	"termination|terminate",
	"termination for convenience",
	"termination for cause",
	"post-termination",
	"breach",
	"material breach",
	"cure period|cure",
	"event of default|default",
	"remedy|remedies",
	"exclusive remedy|sole remedy",
	"injunctive relief|injunction",
	"equitable relief",
	"specific performance",
	"warranty|warranties|warrant",
	"representation|represent",
	"disclaimer|disclaim",
	"as is",
	"merchantability",
	"fitness for a particular purpose",
	"warranty period",
	"confidentiality|confidential information",
	"non-disclosure|nondisclosure",
	"proprietary information",
	"trade secret",
	"assignment|assign",
	"anti-assignment",
	"successors and assigns|successor",
	"change of control|change in control",
	"liability|liable",
	"limitation of liability",
	"cap on liability|liability cap",
	"uncapped liability|unlimited liability",
	"gross negligence",
	"willful misconduct",
	"negligence",
	"third party claim",
	"third party beneficiary",
	"notice period",
	"written notice",
	"renewal term",
	"renewal|renew",
	"automatic renewal|automatically renew",
	"effective date",
	"expiration date|expiration|expire",
	"initial term",
	"survival|survive",
	"exclusivity|exclusive",
	"non-compete|noncompete|covenant not to compete",
	"non-solicitation|non-solicit|no-solicit",
	"no-hire|non-hire",
	"non-disparagement",
	"most favored nation|most favored customer",
	"right of first refusal",
	"right of first offer",
	"right of first negotiation",
	"audit|audit rights",
	"books and records",
	"insurance",
	"intellectual property",
	"ip ownership assignment",
	"joint ownership|jointly owned",
	"work made for hire|work for hire",
	"work product",
	"license|licensed",
	"licensee",
	"licensor",
	"license grant",
	"sublicense|sublicensable",
	"non-transferable",
	"irrevocable",
	"perpetual",
	"royalty|royalty-free",
	"revenue share|revenue sharing|profit sharing",
	"minimum commitment|minimum purchase|minimum order",
	"volume restriction",
	"price restriction",
	"source code escrow|escrow",
	"territory",
	"affiliate",
	"severability|severable",
	"entire agreement",
	"amendment|amend",
	"waiver|waive",
	"counterparts",
	"notwithstanding",
	"good faith",
	"best efforts",
	"commercially reasonable efforts",
	"reasonable efforts",
	"due diligence",
	"payment terms",
	"late payment",
	"invoice",
	"fee",
	"taxes|tax",
	"set-off|setoff",
	"withholding",
	"commission",
	"consideration",
	"compliance with laws|applicable law",
	"export control",
	"anti-corruption|anti-bribery",
	"data protection|personal data|privacy",
	"subcontract|subcontractor",
	"independent contractor",
	"partnership|joint venture",
	"bankruptcy|insolvency|insolvent",
	"covenant",
	"condition precedent",
	"guarantee|guaranty|guarantor",
	"security interest|lien",
	"statute of limitations",
	"risk of loss",
	"title",
	"acceptance",
	"delivery",
	"purchase order",
	"service level",
	"maintenance and support|support and maintenance",
	"material adverse effect",
	"governmental authority",
	"regulatory approval",
	"attorneys fees|legal fees",
	"costs and expenses",
}

// termForm is one stemmed phrasing of the concept LegalTerms[term].
type termForm struct {
	term   int
	tokens []string
}

// termIndex maps the first stemmed token of each phrasing to its forms.
var termIndex = sync.OnceValue(func() map[string][]termForm {
	index := map[string][]termForm{}
	for i, entry := range LegalTerms {
		for _, phrase := range strings.Split(entry, "|") {
			toks := RougeTokenize(phrase, true)
			if len(toks) == 0 {
				panic("eval: empty phrase in LegalTerms entry " + entry)
			}
			index[toks[0]] = append(index[toks[0]], termForm{term: i, tokens: toks})
		}
	}
	return index
})

// LegalTermsIn returns the names (first alternatives) of the LegalTerms
// concepts that occur in text, in LegalTerms order.
func LegalTermsIn(text string) []string {
	found := legalTermSet(text)
	names := make([]string, 0, len(found))
	for i, entry := range LegalTerms {
		if found[i] {
			name, _, _ := strings.Cut(entry, "|")
			names = append(names, name)
		}
	}
	return names
}

// legalTermSet returns the indices into LegalTerms of the concepts in text.
func legalTermSet(text string) map[int]bool {
	toks := RougeTokenize(text, true)
	index := termIndex()
	found := map[int]bool{}
	for i, t := range toks {
		for _, f := range index[t] {
			if !found[f.term] && i+len(f.tokens) <= len(toks) && slices.Equal(toks[i:i+len(f.tokens)], f.tokens) {
				found[f.term] = true
			}
		}
	}
	return found
}

// TerminologyOverlap is the Jaccard overlap, in [0, 1], of the LegalTerms
// concepts in prediction and in reference: |in both| / |in either|. It is 1
// when neither text contains any term (nothing to agree on, nothing
// contradicted).
func TerminologyOverlap(prediction, reference string) float64 {
	p, r := legalTermSet(prediction), legalTermSet(reference)
	union := len(r)
	both := 0
	for t := range p {
		if r[t] {
			both++
		} else {
			union++
		}
	}
	if union == 0 {
		return 1
	}
	return float64(both) / float64(union)
}

// BestTerminologyOverlap is the highest TerminologyOverlap of prediction
// with any of the references (0 when there are none).
func BestTerminologyOverlap(prediction string, references []string) float64 {
	best := 0.0
	for _, r := range references {
		best = max(best, TerminologyOverlap(prediction, r))
	}
	return best
}
