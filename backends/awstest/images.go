package awstest

import (
	"regexp"
	"sort"
	"time"
)

// CanonicalOwner is the AWS account that publishes Ubuntu images.
const CanonicalOwner = "099720109477"

// ImageSpec is one machine image the fake publishes in every region.
type ImageSpec struct {
	Name         string
	OwnerID      string
	Architecture string // "x86_64" or "arm64"
	Created      time.Time
	// State is "available" when empty.
	State string
}

// DefaultImages are a few Canonical Ubuntu images as EC2 lists them, plus
// an impostor with a Canonical-looking name from another account (newer
// than all of them) so that a lookup that forgets the owner picks it.
func DefaultImages() []ImageSpec {
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 10, 0, 0, 0, time.UTC) }
	const noble, jammy = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-", "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-"
	return []ImageSpec{
		{Name: noble + "amd64-server-20260915", OwnerID: CanonicalOwner, Architecture: "x86_64", Created: day(2026, 9, 15)},
		{Name: noble + "amd64-server-20261101", OwnerID: CanonicalOwner, Architecture: "x86_64", Created: day(2026, 11, 1)},
		{Name: noble + "arm64-server-20261101", OwnerID: CanonicalOwner, Architecture: "arm64", Created: day(2026, 11, 1)},
		{Name: jammy + "amd64-server-20261020", OwnerID: CanonicalOwner, Architecture: "x86_64", Created: day(2026, 10, 20)},
		{Name: jammy + "arm64-server-20261020", OwnerID: CanonicalOwner, Architecture: "arm64", Created: day(2026, 10, 20)},
		{Name: noble + "amd64-server-20261120-beta", OwnerID: CanonicalOwner, Architecture: "x86_64", Created: day(2026, 11, 20), State: "pending"},
		{Name: noble + "amd64-server-20261231", OwnerID: "111122223333", Architecture: "x86_64", Created: day(2026, 12, 31)},
	}
}

// ImageID is the id under which the image called name is published in
// region.
func (s *Server) ImageID(region, name string) string {
	return stableID("ami", region, name)
}

var (
	amiRE = regexp.MustCompile(`^ami-[0-9a-f]{8,17}$`)
	// armTypeRE matches Graviton families (t4g, m7g, c7gn, x2gd, a1).
	armTypeRE = regexp.MustCompile(`^(a1|[a-z-]+[0-9]+[a-z]*g[a-z]*)\.`)
)

// image returns the image with id in region.
func (s *Server) image(region, id string) (ImageSpec, bool) {
	for _, img := range s.opts.Images {
		if s.ImageID(region, img.Name) == id {
			return img, true
		}
	}
	return ImageSpec{}, false
}

func (s *Server) describeImages(region string, q query) (any, *apiError) {
	ids := q.list("ImageId")
	for _, id := range ids {
		if !amiRE.MatchString(id) {
			return nil, badRequest("InvalidAMIID.Malformed", "Invalid id: \"%s\" (expecting \"ami-...\")", id)
		}
		if _, ok := s.image(region, id); !ok {
			return nil, badRequest("InvalidAMIID.NotFound", "The image id '[%s]' does not exist", id)
		}
	}
	owners := q.list("Owner")
	for i, o := range owners {
		if o == "self" {
			owners[i] = AccountID
		}
	}
	out := &describeImagesResponse{}
	for _, img := range s.opts.Images {
		id := s.ImageID(region, img.Name)
		if len(ids) > 0 && !matchAny(ids, id) || len(owners) > 0 && !matchAny(owners, img.OwnerID) {
			continue
		}
		state := img.State
		if state == "" {
			state = "available"
		}
		fields := map[string]string{"name": img.Name, "owner-id": img.OwnerID, "architecture": img.Architecture,
			"state": state, "image-id": id, "virtualization-type": "hvm", "root-device-type": "ebs",
			"image-type": "machine", "is-public": "true", "owner-alias": "", "platform-details": "Linux/UNIX"}
		ok, err := matchFields(q.filters(), fields, nil)
		if err != nil {
			return nil, err
		}
		if ok {
			out.Images = append(out.Images, imageXML{ImageID: id, ImageLocation: img.OwnerID + "/" + img.Name,
				State: state, OwnerID: img.OwnerID, CreationDate: ec2Time(img.Created), IsPublic: true,
				Architecture: img.Architecture, ImageType: "machine", Name: img.Name,
				Description: "Canonical, Ubuntu, " + img.Name, RootDeviceType: "ebs", RootDeviceName: "/dev/sda1",
				VirtualizationType: "hvm", Hypervisor: "xen", PlatformDetails: "Linux/UNIX", EnaSupport: true})
		}
	}
	// EC2 returns images in no particular order; shuffle-free but not by
	// date, so a client must sort by creation date itself.
	sort.Slice(out.Images, func(i, j int) bool { return out.Images[i].ImageID < out.Images[j].ImageID })
	return out, nil
}

func typeArch(instanceType string) string {
	if armTypeRE.MatchString(instanceType) {
		return "arm64"
	}
	return "x86_64"
}

func (s *Server) checkImage(region, id string) (ImageSpec, *apiError) {
	switch img, ok := s.image(region, id); {
	case id == "":
		return img, badRequest("MissingParameter", "The request must contain the parameter ImageId")
	case !amiRE.MatchString(id):
		return img, badRequest("InvalidAMIID.Malformed", "Invalid id: \"%s\" (expecting \"ami-...\")", id)
	case !ok:
		return img, badRequest("InvalidAMIID.NotFound", "The image id '[%s]' does not exist", id)
	default:
		return img, nil
	}
}
